//! The damage suite: a generator of HTTP conversations over TCP that knows the truth, damaged
//! the way mirrors damage traffic (reordering, duplication, loss without retransmission,
//! retransmission with different bytes, mid-stream starts, sequence wrap), wrapped the way
//! mirrors wrap it (VLAN, VXLAN, GENEVE, ERSPAN, IPv4 and IPv6 fragments), replayed through
//! `apitap replay`.
//!
//! Asserts, for every seed and scenario: no crash and a clean exit; every exchange whose bytes
//! all reached the capture is reported exactly (method, target, status, body length); no
//! exchange is ever reported with a method, target or status that did not occur together.

mod common;

use common::Rng;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wrap {
    Plain,
    Vlan,
    Vxlan,
    Geneve,
    Erspan,
    Frag4,
    Ipv6Frag,
}

#[derive(Clone, Copy, Debug)]
struct Damage {
    reorder: u64,
    duplicate: u64,
    lose: u64,
    rewrite: u64,
    midstream: bool,
    /// Percent of data packets cut short by the capture (snaplen, mirror MTU truncation).
    truncate: u64,
    wrap: Wrap,
}

/// One exchange of the truth.
#[derive(Clone, Debug)]
struct Truth {
    method: &'static str,
    uri: String,
    status: u16,
    resp_body: u64,
    /// Byte ranges in the client and server streams.
    req: (u64, u64),
    resp: (u64, u64),
}

/// A TCP segment before damage: direction (0 = client), stream offset, bytes, flags.
struct Seg {
    dir: usize,
    off: u64,
    data: Vec<u8>,
    flags: u8,
    ack: u64,
}

fn conversation(rng: &mut Rng, conn: u32) -> (Vec<Truth>, Vec<Seg>) {
    let mut truths = Vec::new();
    let mut segs = vec![
        Seg {
            dir: 0,
            off: 0,
            data: vec![],
            flags: 0x02,
            ack: 0,
        },
        Seg {
            dir: 1,
            off: 0,
            data: vec![],
            flags: 0x12,
            ack: 0,
        },
    ];
    let (mut c, mut s) = (0u64, 0u64);
    let n = 3 + rng.below(6);
    for i in 0..n {
        let method = ["GET", "POST", "PUT", "DELETE"][rng.below(4) as usize];
        let uri = format!("/api/c{conn}/items/{i}?v={}", rng.below(1000));
        let body: Vec<u8> = if method == "GET" || method == "DELETE" {
            vec![]
        } else {
            vec![b'q'; rng.below(3000) as usize]
        };
        let mut req = format!("{method} {uri} HTTP/1.1\r\nHost: damage.example\r\n").into_bytes();
        if !body.is_empty() {
            req.extend(format!("Content-Length: {}\r\n", body.len()).bytes());
        }
        req.extend(b"\r\n");
        req.extend(&body);
        let status = [200u16, 201, 204, 404, 500][rng.below(5) as usize];
        let rb = if status == 204 { 0 } else { rng.below(6000) };
        let content = vec![b'r'; rb as usize];
        let mut resp =
            format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n").into_bytes();
        if status != 204 && rng.chance(40) {
            resp.extend(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in content.chunks(1000) {
                resp.extend(format!("{:x}\r\n", chunk.len()).bytes());
                resp.extend(chunk);
                resp.extend(b"\r\n");
            }
            resp.extend(b"0\r\n\r\n");
        } else {
            if status != 204 {
                resp.extend(format!("Content-Length: {rb}\r\n").bytes());
            }
            resp.extend(b"\r\n");
            resp.extend(&content);
        }
        truths.push(Truth {
            method,
            uri,
            status,
            resp_body: rb,
            req: (c, c + req.len() as u64),
            resp: (s, s + resp.len() as u64),
        });
        for chunk in req.chunks(200 + rng.below(1260) as usize) {
            segs.push(Seg {
                dir: 0,
                off: c,
                data: chunk.to_vec(),
                flags: 0x18,
                ack: s,
            });
            c += chunk.len() as u64;
        }
        for chunk in resp.chunks(200 + rng.below(1260) as usize) {
            segs.push(Seg {
                dir: 1,
                off: s,
                data: chunk.to_vec(),
                flags: 0x18,
                ack: c,
            });
            s += chunk.len() as u64;
        }
        segs.push(Seg {
            dir: 0,
            off: c,
            data: vec![],
            flags: 0x10,
            ack: s,
        });
    }
    segs.push(Seg {
        dir: 0,
        off: c,
        data: vec![],
        flags: 0x11,
        ack: s,
    });
    segs.push(Seg {
        dir: 1,
        off: s,
        data: vec![],
        flags: 0x11,
        ack: c + 1,
    });
    (truths, segs)
}

fn csum_ip4(h: &mut [u8]) {
    let mut sum: u32 = 0;
    for i in (0..h.len()).step_by(2) {
        sum += u16::from_be_bytes([h[i], h[i + 1]]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend(((20 + payload.len()) as u16).to_be_bytes());
    h.extend(id.to_be_bytes());
    h.extend(frag.to_be_bytes());
    h.extend([64, proto, 0, 0]);
    h.extend(src);
    h.extend(dst);
    csum_ip4(&mut h);
    h.extend(payload);
    h
}

fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([next, 64]);
    h.extend(src);
    h.extend(dst);
    h.extend(payload);
    h
}

fn tcp(sp: u16, dp: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + data.len());
    t.extend(sp.to_be_bytes());
    t.extend(dp.to_be_bytes());
    t.extend(seq.to_be_bytes());
    t.extend(ack.to_be_bytes());
    t.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend(data);
    t
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut e = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    e.extend(ethertype.to_be_bytes());
    e.extend(payload);
    e
}

fn udp_outer(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0xc3, 0x50];
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    eth(
        0x0800,
        &ipv4([172, 16, 0, 1], [172, 16, 0, 2], 17, 1, 0x4000, &u),
    )
}

/// One TCP segment on the wire, before wrapping.
struct Wire<'a> {
    conn: u32,
    dir: usize,
    seq: u32,
    ack: u32,
    flags: u8,
    data: &'a [u8],
    id: u16,
}

/// Frames for one segment with the chosen wrapping (fragments may be several frames).
fn frames(w: Wrap, x: &Wire<'_>, rng: &mut Rng) -> Vec<Vec<u8>> {
    let Wire {
        conn,
        dir,
        seq,
        ack,
        flags,
        data,
        id,
    } = *x;
    let (c4, s4) = ([10, 9, (conn >> 8) as u8, conn as u8], [10, 8, 0, 1]);
    let (sp, dp) = (30000 + conn as u16, 80u16);
    let (src, dst, sport, dport) = if dir == 0 {
        (c4, s4, sp, dp)
    } else {
        (s4, c4, dp, sp)
    };
    let seg = tcp(sport, dport, seq, ack, flags, data);
    match w {
        Wrap::Plain => vec![eth(0x0800, &ipv4(src, dst, 6, id, 0x4000, &seg))],
        Wrap::Vlan => {
            let mut tagged = vec![0x00, 0x2a, 0x08, 0x00];
            tagged.extend(ipv4(src, dst, 6, id, 0x4000, &seg));
            vec![eth(0x8100, &tagged)]
        }
        Wrap::Vxlan => {
            let mut v = vec![0x08, 0, 0, 0, 0, 0x01, 0x00, 0];
            v.extend(eth(0x0800, &ipv4(src, dst, 6, id, 0x4000, &seg)));
            vec![udp_outer(4789, &v)]
        }
        Wrap::Geneve => {
            let mut g = vec![0x01, 0, 0x65, 0x58, 0, 0x02, 0, 0, 0x01, 0x02, 0x01, 0x00];
            g.extend(eth(0x0800, &ipv4(src, dst, 6, id, 0x4000, &seg)));
            vec![udp_outer(6081, &g)]
        }
        Wrap::Erspan => {
            let mut g = vec![
                0x10, 0x00, 0x88, 0xbe, 0, 0, 0, id as u8, 0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0,
            ];
            g.extend(eth(0x0800, &ipv4(src, dst, 6, id, 0x4000, &seg)));
            vec![eth(
                0x0800,
                &ipv4([172, 16, 0, 1], [172, 16, 0, 2], 47, id, 0x4000, &g),
            )]
        }
        Wrap::Frag4 => {
            let cut = (8 * (1 + rng.below((seg.len() as u64 / 8).max(1)))) as usize;
            if cut >= seg.len() {
                return vec![eth(0x0800, &ipv4(src, dst, 6, id, 0, &seg))];
            }
            let a = eth(0x0800, &ipv4(src, dst, 6, id, 0x2000, &seg[..cut]));
            let b = eth(
                0x0800,
                &ipv4(src, dst, 6, id, (cut / 8) as u16, &seg[cut..]),
            );
            if rng.chance(50) {
                vec![a, b]
            } else {
                vec![b, a]
            }
        }
        Wrap::Ipv6Frag => {
            let mut s6 = [0u8; 16];
            let mut d6 = [0u8; 16];
            s6[..2].copy_from_slice(&[0x20, 0x01]);
            d6[..2].copy_from_slice(&[0x20, 0x01]);
            s6[12..].copy_from_slice(&src);
            d6[12..].copy_from_slice(&dst);
            let cut = (8 * (1 + rng.below((seg.len() as u64 / 8).max(1)))) as usize;
            if cut >= seg.len() {
                return vec![eth(0x86dd, &ipv6(s6, d6, 6, &seg))];
            }
            let fh = |off: usize, more: bool| {
                let mut h = vec![6, 0];
                h.extend((((off / 8) << 3) as u16 | u16::from(more)).to_be_bytes());
                h.extend((id as u32).to_be_bytes());
                h
            };
            let mut p1 = fh(0, true);
            p1.extend(&seg[..cut]);
            let mut p2 = fh(cut, false);
            p2.extend(&seg[cut..]);
            vec![
                eth(0x86dd, &ipv6(s6, d6, 44, &p1)),
                eth(0x86dd, &ipv6(s6, d6, 44, &p2)),
            ]
        }
    }
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 1] {
        f.extend(v.to_le_bytes());
    }
    for (i, fr) in frames.iter().enumerate() {
        let t = 1_700_000_000u64 * 1_000_000 + i as u64 * 100;
        f.extend(((t / 1_000_000) as u32).to_le_bytes());
        f.extend(((t % 1_000_000) as u32).to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend(fr);
    }
    f
}

/// A damaged capture: its bytes, the truth, per (connection, direction) the stream ranges
/// lost or no longer trustworthy, and per connection the first stream offsets present.
type Scenario = (
    Vec<u8>,
    Vec<(u32, Truth)>,
    HashMap<(u32, usize), Vec<(u64, u64)>>,
    HashMap<u32, (u64, u64)>,
);

/// Build a damaged capture; return it with the truths and, per connection and direction, the
/// stream ranges lost, and the first stream offsets present (mid-stream pick-up).
fn scenario(seed: u64, dmg: Damage) -> Scenario {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut truths = Vec::new();
    let mut lost: HashMap<(u32, usize), Vec<(u64, u64)>> = HashMap::new();
    let mut starts = HashMap::new();
    let mut id = 1u16;
    for conn in 0..4u32 {
        let (t, segs) = conversation(&mut rng, conn);
        truths.extend(t.into_iter().map(|t| (conn, t)));
        let isn = [u32::MAX - rng.below(3000) as u32, rng.next() as u32];
        let skip = if dmg.midstream {
            2 + rng.below(segs.len() as u64 / 2) as usize
        } else {
            0
        };
        // Where each direction's capture starts when the first packets are missing.
        let first = |d: usize| {
            segs.iter()
                .skip(skip)
                .find(|s| s.dir == d)
                .map_or(u64::MAX, |s| s.off)
        };
        starts.insert(conn, (first(0), first(1)));
        let mut pending: Vec<Vec<Vec<u8>>> = Vec::new();
        for (k, s) in segs.iter().enumerate() {
            let seq = isn[s.dir]
                .wrapping_add(1)
                .wrapping_add(s.off as u32)
                .wrapping_sub(u32::from(s.flags & 0x02 != 0));
            let ack = isn[1 - s.dir].wrapping_add(1).wrapping_add(s.ack as u32);
            id = id.wrapping_add(1);
            if k < skip {
                if !s.data.is_empty() {
                    lost.entry((conn, s.dir))
                        .or_default()
                        .push((s.off, s.off + s.data.len() as u64));
                }
                continue;
            }
            if !s.data.is_empty() && rng.chance(dmg.lose) {
                lost.entry((conn, s.dir))
                    .or_default()
                    .push((s.off, s.off + s.data.len() as u64));
                continue;
            }
            let f = frames(
                dmg.wrap,
                &Wire {
                    conn,
                    dir: s.dir,
                    seq,
                    ack,
                    flags: s.flags,
                    data: &s.data,
                    id,
                },
                &mut rng,
            );
            let mut f = f;
            if !s.data.is_empty() && f.len() == 1 && rng.chance(dmg.truncate) {
                // The capture keeps only the first bytes of the frame; the IP header still
                // announces the whole packet.
                let cut = 1 + rng.below(s.data.len() as u64) as usize;
                let keep = f[0].len() - cut;
                f[0].truncate(keep);
                let end = s.off + s.data.len() as u64;
                lost.entry((conn, s.dir))
                    .or_default()
                    .push((end - cut as u64, end));
            }
            pending.push(f);
            if !s.data.is_empty() && rng.chance(dmg.duplicate) {
                let again = if rng.chance(dmg.rewrite) {
                    vec![b'#'; s.data.len()]
                } else {
                    s.data.clone()
                };
                if again != s.data {
                    // Reordering may put the rewritten copy first, and the first copy wins:
                    // these bytes are no longer the truth.
                    lost.entry((conn, s.dir))
                        .or_default()
                        .push((s.off, s.off + s.data.len() as u64));
                }
                id = id.wrapping_add(1);
                pending.push(frames(
                    dmg.wrap,
                    &Wire {
                        conn,
                        dir: s.dir,
                        seq,
                        ack,
                        flags: s.flags,
                        data: &again,
                        id,
                    },
                    &mut rng,
                ));
            }
        }
        // Reorder: swap neighbours within a small window.
        for i in 0..pending.len() {
            if rng.chance(dmg.reorder) && i + 1 < pending.len() {
                let n = pending.len();
                let j = i + 1 + rng.below(3.min((n - i - 1) as u64)) as usize;
                pending.swap(i, j.min(n - 1));
            }
        }
        out.extend(pending.into_iter().flatten());
    }
    (pcap(&out), truths, lost, starts)
}

fn touched(lost: Option<&Vec<(u64, u64)>>, (a, b): (u64, u64)) -> bool {
    lost.is_some_and(|l| l.iter().any(|(x, y)| *x < b && *y > a))
}

fn run(seed: u64, dmg: Damage) -> (usize, usize) {
    let (cap, truths, lost, starts) = scenario(seed, dmg);
    let dir = std::env::temp_dir().join(format!("apitap-damage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join(format!("s{seed}-{:?}.pcap", dmg.wrap));
    std::fs::write(&file, &cap).expect("write pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_apitap"))
        .args(["replay", "-q", "--exchanges", "-"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "seed {seed} {dmg:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let by_uri: HashMap<&str, &Truth> = truths.iter().map(|(_, t)| (t.uri.as_str(), t)).collect();
    // Never wrong: every reported request is a real one, and a status reported with it is its own.
    for r in &rows {
        let Some(uri) = r["uri"].as_str() else {
            continue;
        };
        let t = by_uri
            .get(uri)
            .unwrap_or_else(|| panic!("seed {seed} {dmg:?}: invented target {uri}"));
        assert_eq!(
            r["method"], t.method,
            "seed {seed} {dmg:?}: wrong method for {uri}"
        );
        if let Some(st) = r["status"].as_u64() {
            assert_eq!(
                st, t.status as u64,
                "seed {seed} {dmg:?}: wrong status for {uri}"
            );
        }
    }
    // Complete: every exchange whose bytes all arrived is reported exactly.
    let (mut intact, mut found) = (0, 0);
    for (conn, t) in &truths {
        let (c0, s0) = starts[conn];
        let whole = !touched(lost.get(&(*conn, 0)), t.req)
            && !touched(lost.get(&(*conn, 1)), t.resp)
            && t.req.0 >= c0
            && t.resp.0 >= s0;
        if !whole {
            continue;
        }
        intact += 1;
        let row = rows.iter().find(|r| r["uri"] == t.uri.as_str());
        let ok = row.is_some_and(|r| {
            r["status"] == t.status && r["response_body_bytes"] == t.resp_body && r["gap"] == false
        });
        if ok {
            found += 1;
        } else if std::env::var_os("APITAP_DAMAGE_VERBOSE").is_some() {
            eprintln!(
                "seed {seed} {dmg:?}: missed {} {} -> {}: {row:?}",
                t.method, t.uri, t.status
            );
        }
    }
    let _ = std::fs::remove_file(&file);
    (intact, found)
}

const CLEAN: Damage = Damage {
    truncate: 0,
    reorder: 0,
    duplicate: 0,
    lose: 0,
    rewrite: 0,
    midstream: false,
    wrap: Wrap::Plain,
};

/// Run seeds; every run must be never-wrong (asserted inside `run`). Returns the share of
/// intact exchanges recovered exactly, printed for the record.
fn recovery(name: &str, seeds: std::ops::Range<u64>, dmg: impl Fn(u64) -> Damage) -> f64 {
    let (mut intact, mut found) = (0, 0);
    // APITAP_DAMAGE_SCALE=N runs N times as many seeds (a wider sweep than CI's).
    let scale: u64 = std::env::var("APITAP_DAMAGE_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let seeds = seeds.start * scale..seeds.end * scale;
    for seed in seeds {
        let (i, f) = run(seed, dmg(seed));
        intact += i;
        found += f;
    }
    assert!(
        intact > 50,
        "{name}: too few intact exchanges to mean anything ({intact})"
    );
    let r = found as f64 / intact as f64;
    eprintln!(
        "damage suite {name}: {found}/{intact} intact exchanges recovered exactly ({:.1}%)",
        r * 100.0
    );
    r
}

#[test]
fn every_wrapping_undamaged() {
    for wrap in [
        Wrap::Plain,
        Wrap::Vlan,
        Wrap::Vxlan,
        Wrap::Geneve,
        Wrap::Erspan,
        Wrap::Frag4,
        Wrap::Ipv6Frag,
    ] {
        assert_eq!(
            recovery(&format!("{wrap:?}"), 1..5, |_| Damage { wrap, ..CLEAN }),
            1.0
        );
    }
}

#[test]
fn reordering_and_duplicates() {
    assert!(
        recovery("reorder+dup", 10..40, |_| Damage {
            reorder: 20,
            duplicate: 10,
            ..CLEAN
        }) >= 0.97
    );
}

#[test]
fn retransmissions_with_different_bytes() {
    assert!(
        recovery("rewrite", 40..70, |_| Damage {
            duplicate: 15,
            rewrite: 100,
            reorder: 5,
            ..CLEAN
        }) >= 0.97
    );
}

#[test]
fn loss_without_retransmission() {
    assert!(
        recovery("loss", 70..110, |_| Damage {
            lose: 4,
            reorder: 5,
            ..CLEAN
        }) >= 0.95
    );
}

#[test]
fn truncated_packets() {
    assert!(
        recovery("truncation", 190..220, |_| Damage {
            truncate: 5,
            reorder: 5,
            ..CLEAN
        }) >= 0.95
    );
}

#[test]
fn midstream_starts() {
    assert!(
        recovery("midstream", 110..140, |_| Damage {
            midstream: true,
            ..CLEAN
        }) >= 0.97
    );
}

#[test]
fn everything_at_once_in_tunnels_and_fragments() {
    let wraps = [
        Wrap::Vxlan,
        Wrap::Erspan,
        Wrap::Frag4,
        Wrap::Ipv6Frag,
        Wrap::Geneve,
    ];
    let r = recovery("all damage, tunnels, fragments", 140..190, |s| Damage {
        reorder: 10,
        duplicate: 5,
        lose: 3,
        rewrite: 50,
        midstream: s % 2 == 0,
        truncate: 3,
        wrap: wraps[s as usize % wraps.len()],
    });
    assert!(r >= 0.90);
}

/// `APITAP_DAMAGE_SEED=N APITAP_DAMAGE_KIND=loss|rewrite|all cargo test --test damage one_seed`
/// replays one scenario (for investigating a failure of the wider sweep).
#[test]
fn one_seed() {
    let Some(seed) = std::env::var("APITAP_DAMAGE_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let wraps = [
        Wrap::Vxlan,
        Wrap::Erspan,
        Wrap::Frag4,
        Wrap::Ipv6Frag,
        Wrap::Geneve,
    ];
    let dmg = match std::env::var("APITAP_DAMAGE_KIND").as_deref() {
        Ok("rewrite") => Damage {
            duplicate: 15,
            rewrite: 100,
            reorder: 5,
            ..CLEAN
        },
        Ok("truncate") => Damage {
            truncate: 5,
            reorder: 5,
            ..CLEAN
        },
        Ok("all") => Damage {
            reorder: 10,
            duplicate: 5,
            lose: 3,
            rewrite: 50,
            midstream: seed % 2 == 0,
            truncate: 3,
            wrap: wraps[seed as usize % wraps.len()],
        },
        _ => Damage {
            lose: 4,
            reorder: 5,
            ..CLEAN
        },
    };
    let (intact, found) = run(seed, dmg);
    eprintln!("seed {seed}: {found}/{intact}");
}

/// The reassembly counters reach the inventory's stats: every fragment, every datagram
/// reassembled, and a datagram whose first fragment the capture lost counted as timed out.
#[test]
fn fragment_counters_reach_the_inventory_stats() {
    let (cap, ..) = scenario(
        7,
        Damage {
            wrap: Wrap::Frag4,
            ..CLEAN
        },
    );
    let dir = std::env::temp_dir().join(format!("apitap-frag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let whole_pcap = dir.join("whole.pcap");
    std::fs::write(&whole_pcap, &cap).expect("write pcap");
    // The same frames without the first fragment that has More Fragments set.
    let mut frames = common::pcap_frames(&whole_pcap);
    let first = frames
        .iter()
        .position(|f| f.len() > 21 && f[12..14] == [8, 0] && f[20] & 0x20 != 0)
        .expect("the scenario has fragments");
    frames.remove(first);
    let cut_pcap = dir.join("cut.pcap");
    std::fs::write(&cut_pcap, pcap(&frames)).expect("write pcap");
    let defrag = |p: &std::path::Path| common::offline_inventory(p)["stats"]["defrag"].clone();
    let (whole, lost) = (defrag(&whole_pcap), defrag(&cut_pcap));
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    assert!(
        n(&whole, "fragments") >= 2 && n(&whole, "reassembled") >= 1,
        "{whole}"
    );
    assert_eq!(n(&whole, "timed_out"), 0, "{whole}");
    assert_eq!(n(&lost, "fragments"), n(&whole, "fragments") - 1, "{lost}");
    assert_eq!(
        n(&lost, "reassembled"),
        n(&whole, "reassembled") - 1,
        "{lost}"
    );
    assert_eq!(n(&lost, "timed_out"), 1, "{lost}");
}
