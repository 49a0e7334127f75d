use super::*;
use etherparse::PacketBuilder;
use std::net::Ipv4Addr;

fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(77)
        .psh();
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("build");
    v
}

fn cfg() -> DecodeConfig {
    DecodeConfig::default()
}

#[test]
fn ethernet_ipv4_tcp_payload_is_a_range_of_the_frame() {
    let f = tcp_frame(b"GET / HTTP/1.1\r\n\r\n");
    let d = decode(LinkType::ETHERNET, &f, &cfg()).expect("decodes");
    assert_eq!(d.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(d.payload(&f), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(d.truncated, 0);
    match d.transport {
        Transport::Tcp(t) => {
            assert_eq!(
                (t.src_port, t.dst_port, t.seq, t.ack),
                (40000, 80, 1000, 77)
            );
            assert!(t.flags.ack() && !t.flags.syn());
        }
        other => panic!("not tcp: {other:?}"),
    }
}

#[test]
fn snaplen_cut_is_reported_as_missing_payload() {
    let f = tcp_frame(&[b'x'; 500]);
    let cut = &f[..f.len() - 200];
    let d = decode(LinkType::ETHERNET, cut, &cfg()).expect("decodes");
    assert_eq!(d.payload_len, 300);
    assert_eq!(d.truncated, 200);
}

#[test]
fn qinq_and_vlan_tags_are_stripped() {
    let f = tcp_frame(b"hi");
    let mut q = f[..12].to_vec();
    q.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a]);
    q.extend_from_slice(&f[12..]);
    let d = decode(LinkType::ETHERNET, &q, &cfg()).expect("decodes");
    assert_eq!(d.vlan, 100);
    assert_eq!(d.payload(&q), b"hi");
}

#[test]
fn linux_cooked_v1_and_v2() {
    let f = tcp_frame(b"abc");
    let ip = &f[14..];
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(ip);
    assert_eq!(
        decode(LinkType::LINUX_SLL, &sll, &cfg())
            .expect("sll")
            .payload(&sll),
        b"abc"
    );
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(ip);
    assert_eq!(
        decode(LinkType::LINUX_SLL2, &sll2, &cfg())
            .expect("sll2")
            .payload(&sll2),
        b"abc"
    );
    assert_eq!(
        decode(LinkType::RAW, ip, &cfg()).expect("raw").payload(ip),
        b"abc"
    );
}

#[test]
fn vxlan_is_unwrapped_and_vni_kept() {
    let inner = tcp_frame(b"GET /x HTTP/1.1\r\n\r\n");
    let mut vx = vec![0x08, 0, 0, 0, 0x00, 0x30, 0x39, 0];
    vx.extend_from_slice(&inner);
    let b = PacketBuilder::ethernet2([3; 6], [4; 6])
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64)
        .udp(55555, 4789);
    let mut outer = Vec::new();
    b.write(&mut outer, &vx).expect("build");
    let d = decode(LinkType::ETHERNET, &outer, &cfg()).expect("decodes");
    assert_eq!(d.tunnel, 12345);
    assert_eq!(d.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(d.payload(&outer), b"GET /x HTTP/1.1\r\n\r\n");
}

#[test]
fn a_mirror_target_datagram_decodes_from_its_tunnel_header() {
    let inner = tcp_frame(b"GET /x HTTP/1.1\r\n\r\n");
    let mut vx = vec![0x08, 0, 0, 0, 0x00, 0x30, 0x39, 0];
    vx.extend_from_slice(&inner);
    let d = decode(LinkType::VXLAN_PAYLOAD, &vx, &cfg()).expect("vxlan payload");
    assert_eq!(
        (d.tunnel, d.payload(&vx)),
        (12345, &b"GET /x HTTP/1.1\r\n\r\n"[..])
    );
    // GENEVE with one 8-byte option, carrying the Ethernet frame.
    let mut gn = vec![0x02, 0, 0x65, 0x58, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    gn.extend_from_slice(&inner);
    let d = decode(LinkType::GENEVE_PAYLOAD, &gn, &cfg()).expect("geneve payload");
    assert_eq!(
        (d.tunnel, d.payload(&gn)),
        (7, &b"GET /x HTTP/1.1\r\n\r\n"[..])
    );
    // Without the VXLAN I flag, or cut inside the options, it is a bad tunnel, not a packet.
    vx[0] = 0;
    assert_eq!(
        decode(LinkType::VXLAN_PAYLOAD, &vx, &cfg()).err(),
        Some(Anomaly::BadTunnel)
    );
    assert_eq!(
        decode(LinkType::GENEVE_PAYLOAD, &gn[..12], &cfg()).err(),
        Some(Anomaly::BadTunnel)
    );
}

#[test]
fn erspan_type2_is_unwrapped() {
    let inner = tcp_frame(b"hello");
    // GRE with sequence number, protocol ERSPAN II; ERSPAN header with session id 7.
    let mut gre = vec![
        0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0x00, 0x00, 0x07, 0, 0, 0, 0,
    ];
    gre.extend_from_slice(&inner);
    let b = PacketBuilder::ethernet2([3; 6], [4; 6]).ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64);
    let mut outer = Vec::new();
    b.write(&mut outer, etherparse::IpNumber(47), &gre)
        .expect("build");
    let d = decode(LinkType::ETHERNET, &outer, &cfg()).expect("decodes");
    assert_eq!(d.tunnel, 7);
    assert_eq!(d.payload(&outer), b"hello");
}

#[test]
fn non_ip_and_unknown_links_are_anomalies() {
    let mut arp = vec![0u8; 42];
    arp[12] = 0x08;
    arp[13] = 0x06;
    assert_eq!(
        decode(LinkType::ETHERNET, &arp, &cfg()),
        Err(Anomaly::NotIp)
    );
    assert_eq!(
        decode(LinkType(147), &arp, &cfg()),
        Err(Anomaly::UnknownLinkType)
    );
    assert_eq!(
        decode(LinkType::ETHERNET, &arp[..10], &cfg()),
        Err(Anomaly::TruncatedLink)
    );
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_frames(link in 0u32..300, data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = decode(LinkType(link), &data, &cfg());
    }

    #[test]
    fn never_panics_on_mutated_tunnel_frames(pos in 0usize..120, byte in proptest::num::u8::ANY) {
        let inner = tcp_frame(b"GET / HTTP/1.1\r\n\r\n");
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(&inner);
        let b = PacketBuilder::ethernet2([3; 6], [4; 6]).ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64).udp(1, 4789);
        let mut outer = Vec::new();
        b.write(&mut outer, &vx).expect("build");
        let p = pos % outer.len();
        outer[p] = byte;
        if let Ok(d) = decode(LinkType::ETHERNET, &outer, &cfg()) {
            proptest::prop_assert!(d.payload_off as usize + d.payload_len as usize <= outer.len());
        }
    }
}

#[test]
fn pppoe_with_two_byte_and_compressed_protocol_fields() {
    let inner = tcp_frame(b"GET / HTTP/1.1\r\n\r\n");
    let ip = &inner[14..];
    for proto in [&[0x00u8, 0x21][..], &[0x21][..]] {
        let mut f = inner[..12].to_vec();
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x00, 0x2d]);
        f.extend_from_slice(&((ip.len() + proto.len()) as u16).to_be_bytes());
        f.extend_from_slice(proto);
        f.extend_from_slice(ip);
        let d = decode(LinkType::ETHERNET, &f, &cfg()).expect("decodes");
        assert_eq!(
            d.payload(&f),
            b"GET / HTTP/1.1\r\n\r\n",
            "protocol {proto:?}"
        );
    }
    // A compressed protocol that is not IP is not misread as one.
    let mut f = inner[..12].to_vec();
    f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x00, 0x2d, 0x00, 0x10, 0x23]);
    f.extend_from_slice(ip);
    assert!(decode(LinkType::ETHERNET, &f, &cfg()).is_err());
}

#[test]
fn ieee_802_3_frames_with_llc_snap() {
    let inner = tcp_frame(b"GET / HTTP/1.1\r\n\r\n");
    let ip = &inner[14..];
    let frame = |tag: &[u8], llc: &[u8]| {
        let mut f = inner[..12].to_vec();
        f.extend_from_slice(tag);
        f.extend_from_slice(&((ip.len() + 8) as u16).to_be_bytes());
        f.extend_from_slice(llc);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(ip);
        f
    };
    // Plain, behind an 802.1Q tag, and with the 802.1H bridge-tunnel OUI.
    for (tag, oui) in [
        (&[][..], [0, 0, 0]),
        (&[0x81, 0x00, 0x00, 0x07][..], [0, 0, 0]),
        (&[][..], [0, 0, 0xf8]),
    ] {
        let f = frame(tag, &[0xaa, 0xaa, 0x03, oui[0], oui[1], oui[2]]);
        let d = decode(LinkType::ETHERNET, &f, &cfg()).expect("decodes");
        assert_eq!(d.payload(&f), b"GET / HTTP/1.1\r\n\r\n", "{tag:?} {oui:?}");
    }
    // Other LLC payloads (spanning tree, NetBIOS) are not IP.
    let stp = frame(&[], &[0x42, 0x42, 0x03, 0, 0, 0]);
    assert!(matches!(
        decode(LinkType::ETHERNET, &stp, &cfg()),
        Err(Anomaly::NotIp)
    ));
    // A length with too few bytes after it is a truncated link header.
    let mut short = inner[..12].to_vec();
    short.extend_from_slice(&[0x00, 0x40, 0xaa, 0xaa]);
    assert!(matches!(
        decode(LinkType::ETHERNET, &short, &cfg()),
        Err(Anomaly::TruncatedLink)
    ));
}
