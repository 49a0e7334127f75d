//! Endpoint F1 on generated traffic from realistic API surfaces: GitHub-like slugs
//! (`/repos/{owner}/{repo}/issues/{number}`), Stripe-like prefixed ids and static siblings
//! (`/v1/customers/search`), a shop with UUIDs, dates, versions and `/users/me`. Each
//! documented operation gets traffic with varied values; each returns its own JSON shape.
//! The inventory's endpoints are compared with the operations (parameter names ignored).
//!
//! `cargo test -p apitap-inventory --release --test templating -- --nocapture` prints the figure.

mod support;

use apitap_inventory::{Document, Inventory};
use std::collections::BTreeSet;
use support::exchange;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len() as u64) as usize]))
            .collect()
    }
}

const HANDLES: &[&str] = &[
    "octocat",
    "torvalds",
    "alice",
    "bob-smith",
    "carol99",
    "dave_k",
    "eve",
    "frank-ops",
    "grace-h",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "rust-lang",
    "kubernetes",
    "apache",
    "mozilla",
];
const REPOS: &[&str] = &[
    "hello-world",
    "linux",
    "rust",
    "dotfiles",
    "notes",
    "website",
    "api-server",
    "cli",
    "docs",
    "infra",
    "terraform-modules",
    "ml-experiments",
    "blog",
    "design-system",
    "mobile-app",
];
const CATEGORIES: &[&str] = &[
    "garden-tools",
    "kitchen",
    "outdoor",
    "bath",
    "lighting",
    "office",
    "toys",
    "books",
    "audio",
    "pets",
];
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// An operation: host, method, template with `{kind}` placeholders, and the response shape.
struct Op {
    host: &'static str,
    method: &'static str,
    template: &'static str,
    body: &'static str,
}

fn value(kind: &str, r: &mut Rng) -> String {
    match kind {
        "user" | "owner" | "org" => r.pick(HANDLES).to_string(),
        "repo" => r.pick(REPOS).to_string(),
        "int" => (1 + r.below(99_999)).to_string(),
        "cus" => format!("cus_{}", r.chars(ALNUM, 14)),
        "ch" => format!("ch_{}", r.chars(ALNUM, 24)),
        "in" => format!("in_{}", r.chars(ALNUM, 24)),
        "uuid" => format!(
            "{}-{}-4{}-a{}-{}",
            r.chars(b"0123456789abcdef", 8),
            r.chars(b"0123456789abcdef", 4),
            r.chars(b"0123456789abcdef", 3),
            r.chars(b"0123456789abcdef", 3),
            r.chars(b"0123456789abcdef", 12)
        ),
        "date" => format!("2025-{:02}-{:02}", 1 + r.below(12), 1 + r.below(28)),
        "cat" => r.pick(CATEGORIES).to_string(),
        "sku" => format!("SKU-{:06}", r.below(999_999)),
        _ => kind.to_string(),
    }
}

fn ops() -> Vec<Op> {
    let gh = "api.github.example";
    let st = "api.stripe.example";
    let shop = "shop.example";
    vec![
        Op {
            host: gh,
            method: "GET",
            template: "/user",
            body: r#"{"login":"me","id":1,"plan":{"name":"pro"},"two_factor":true}"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/users/{user}",
            body: r#"{"login":"x","id":1,"followers":3,"public_repos":2}"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/users/{user}/repos",
            body: r#"[{"id":1,"name":"r","full_name":"x/r","private":false}]"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/repos/{owner}/{repo}",
            body: r#"{"id":1,"name":"r","owner":{"login":"x"},"stargazers_count":1,"topics":["a"]}"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/repos/{owner}/{repo}/issues",
            body: r#"[{"number":1,"title":"t","state":"open","user":{"login":"x"}}]"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/repos/{owner}/{repo}/issues/{int}",
            body: r#"{"number":1,"title":"t","state":"open","body":"b","comments":0}"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/repos/{owner}/{repo}/pulls",
            body: r#"[{"number":1,"title":"t","head":{"ref":"x"},"base":{"ref":"main"}}]"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/orgs/{org}/members",
            body: r#"[{"login":"x","id":1,"site_admin":false}]"#,
        },
        Op {
            host: gh,
            method: "GET",
            template: "/search/repositories",
            body: r#"{"total_count":1,"incomplete_results":false,"items":[{"id":1,"name":"r"}]}"#,
        },
        Op {
            host: st,
            method: "GET",
            template: "/v1/customers",
            body: r#"{"object":"list","data":[{"id":"cus_x","email":"a@b.co"}],"has_more":false}"#,
        },
        Op {
            host: st,
            method: "POST",
            template: "/v1/customers",
            body: r#"{"id":"cus_x","object":"customer","email":"a@b.co","created":1}"#,
        },
        Op {
            host: st,
            method: "GET",
            template: "/v1/customers/search",
            body: r#"{"object":"search_result","data":[{"id":"cus_x"}],"next_page":null}"#,
        },
        Op {
            host: st,
            method: "GET",
            template: "/v1/customers/{cus}",
            body: r#"{"id":"cus_x","object":"customer","email":"a@b.co","balance":0}"#,
        },
        Op {
            host: st,
            method: "GET",
            template: "/v1/charges/{ch}",
            body: r#"{"id":"ch_x","object":"charge","amount":100,"currency":"usd","paid":true}"#,
        },
        Op {
            host: st,
            method: "GET",
            template: "/v1/invoices/{in}/lines",
            body: r#"{"object":"list","data":[{"id":"il_x","amount":5}],"url":"/v1/x"}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/users/me",
            body: r#"{"id":1,"email":"a@b.co","roles":["admin"],"settings":{"theme":"dark"}}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/users/{int}",
            body: r#"{"id":1,"email":"a@b.co","name":"n","created_at":"2024-01-01T00:00:00Z"}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/users/{int}/addresses",
            body: r#"[{"id":1,"street":"s","city":"c","zip":"z"}]"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/orders/{uuid}",
            body: r#"{"id":"u","total":1.5,"items":[{"sku":"s","qty":1}],"status":"paid"}"#,
        },
        Op {
            host: shop,
            method: "DELETE",
            template: "/api/v2/orders/{uuid}",
            body: r#"{"id":"u","status":"cancelled","refund":{"amount":1}}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/reports/{date}",
            body: r#"{"date":"d","orders":3,"revenue":9.5,"top":[{"sku":"s"}]}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/categories/{cat}",
            body: r#"{"slug":"c","title":"t","products":[{"sku":"s","price":1}]}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/categories/{cat}/products",
            body: r#"{"items":[{"sku":"s","price":1,"stock":2}],"total":1,"page":1}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v2/products/{sku}",
            body: r#"{"sku":"s","price":1,"stock":2,"images":["u"],"category":"c"}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/api/v1/products/{sku}",
            body: r#"{"sku":"s","price":1,"in_stock":true}"#,
        },
        Op {
            host: shop,
            method: "GET",
            template: "/health",
            body: r#"{"status":"ok","uptime":1,"version":"1.2.3"}"#,
        },
    ]
}

/// Real objects differ: optional fields are missing from some (each top-level field after
/// the first is dropped with probability 1/4) and some carry extra ones.
fn vary(body: &str, r: &mut Rng) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_string();
    };
    let obj = match &mut v {
        serde_json::Value::Object(o) => Some(o),
        serde_json::Value::Array(a) => a.first_mut().and_then(|x| x.as_object_mut()),
        _ => None,
    };
    if let Some(o) = obj {
        // Real API objects carry bookkeeping fields beside their own.
        o.insert("url".into(), serde_json::json!("https://x/y"));
        o.insert(
            "created_at".into(),
            serde_json::json!("2024-01-01T00:00:00Z"),
        );
        o.insert(
            "updated_at".into(),
            serde_json::json!("2024-01-02T00:00:00Z"),
        );
        let keys: Vec<String> = o.keys().skip(1).cloned().collect();
        for k in keys {
            if r.below(4) == 0 {
                o.remove(&k);
            }
        }
        if r.below(3) == 0 {
            o.insert("etag".into(), serde_json::json!("W/\"1\""));
        }
    }
    v.to_string()
}

/// `/repos/{owner}/{repo}` and `/repos/{id}/{id2}` are the same endpoint.
fn normal(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn endpoint_f1_on_realistic_surfaces() {
    for seed in [
        0x9e37_79b9_7f4a_7c15,
        0x1234_5678_9abc_def1,
        0x0ddc_0ffe_e15e_a5e5,
        42,
        7,
    ] {
        one_seed(seed);
    }
}

fn one_seed(seed: u64) {
    let scanner = apitap_pii::Scanner::new();
    let mut inv = Inventory::new(100_000);
    let mut r = Rng(seed);
    let ops = ops();
    let mut truth: BTreeSet<(String, String, String)> = BTreeSet::new();
    for op in &ops {
        truth.insert((op.host.into(), op.method.into(), normal(op.template)));
        let n = 8 + r.below(40);
        for _ in 0..n {
            let path: String = op
                .template
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                        Some(kind) => value(kind, &mut r),
                        None => s.to_string(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            let body = vary(op.body, &mut r);
            let x = exchange(op.host, op.method, &path, &body, (1 + r.below(200)) as u8);
            inv.observe(&x, &scanner.scan(&x));
        }
    }
    let doc = Document::build(&inv, Default::default(), Default::default(), 0);
    let got: BTreeSet<(String, String, String)> = doc
        .endpoints
        .iter()
        .map(|e| (e.host.clone(), e.method.clone(), normal(&e.path)))
        .collect();
    let tp = got.intersection(&truth).count() as f64;
    let precision = tp / got.len() as f64;
    let recall = tp / truth.len() as f64;
    let f1 = 2.0 * precision * recall / (precision + recall);
    println!(
        "seed {seed:#x}: operations {}, endpoints {}, precision {precision:.3}, recall {recall:.3}, F1 {f1:.3}",
        truth.len(),
        got.len()
    );
    let extra: Vec<_> = got.difference(&truth).take(30).collect();
    // A documented operation missing from the inventory was merged into another (over-merge)
    // or split (under-merge); either shows here.
    let missing: Vec<_> = truth.difference(&got).collect();
    // Recall must stay 1: no documented operation may disappear into another.
    assert!(missing.is_empty(), "seed {seed:#x} missing: {missing:#?}");
    assert!(f1 >= 0.98, "seed {seed:#x} F1 {f1:.3}\nextra {extra:#?}");
}
