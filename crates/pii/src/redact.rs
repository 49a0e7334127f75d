//! Redacted samples: enough to recognise the kind of value, never enough to recover it.

use crate::Kind;

fn stars(n: usize) -> String {
    "*".repeat(n.min(12))
}

/// Keep the first `head` and last `tail` characters, at most a quarter of the value.
fn keep(s: &str, head: usize, tail: usize) -> String {
    let n = s.chars().count();
    let budget = n / 4;
    let head = head.min(budget);
    let tail = tail.min(budget.saturating_sub(head));
    let head_end = s.char_indices().nth(head).map_or(s.len(), |(i, _)| i);
    let tail_start = match tail {
        0 => s.len(),
        t => s.char_indices().rev().nth(t - 1).map_or(0, |(i, _)| i),
    };
    let hidden = (n - head - tail).min(12);
    let mut out = String::with_capacity(head_end + hidden + (s.len() - tail_start));
    out.push_str(&s[..head_end]);
    out.extend(std::iter::repeat_n('*', hidden));
    out.push_str(&s[tail_start..]);
    out
}

pub fn redact(k: Kind, raw: &str) -> String {
    let raw = raw.trim();
    match k {
        Kind::Email => {
            let (local, domain) = raw.split_once('@').unwrap_or((raw, ""));
            let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
            let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
            format!("{}***@{}***.{}", first(local), first(host), tld)
        }
        Kind::CreditCard => {
            let d: String = raw.chars().filter(char::is_ascii_digit).collect();
            let n = d.len();
            format!(
                "{}{}",
                "*".repeat(n.saturating_sub(4)),
                &d[n.saturating_sub(4)..]
            )
        }
        Kind::Iban => {
            let c: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            let cc: String = c.chars().take(2).collect();
            format!("{cc}{}", stars(c.chars().count().saturating_sub(2)))
        }
        Kind::IpAddress => {
            if let Some((net, _)) = raw.rsplit_once('.').filter(|_| !raw.contains(':')) {
                let first = net.split('.').next().unwrap_or("");
                format!("{first}.***.***.***")
            } else {
                let first = raw.split(':').next().unwrap_or("");
                format!("{first}:****:****")
            }
        }
        Kind::MacAddress => format!("{}:**:**:**:**:**", raw.get(..2).unwrap_or("")),
        Kind::Phone => {
            let plus = if raw.starts_with('+') { "+" } else { "" };
            let d: String = raw.chars().filter(char::is_ascii_digit).collect();
            format!("{plus}{}", keep(&d, 1, 2))
        }
        Kind::PersonName => raw
            .split_whitespace()
            .map(|w| format!("{}***", w.chars().next().unwrap_or('*')))
            .collect::<Vec<_>>()
            .join(" "),
        Kind::DateOfBirth => "****-**-**".into(),
        Kind::Gender | Kind::Age | Kind::Password | Kind::BasicAuth => "********".into(),
        Kind::StreetAddress => format!("{}***", raw.chars().take(2).collect::<String>()),
        Kind::Jwt => "eyJ****.****.****".into(),
        Kind::PrivateKey => "-----BEGIN ****PRIVATE KEY-----".into(),
        // Token prefixes name the issuer; the random part is hidden.
        Kind::AwsAccessKeyId
        | Kind::GithubToken
        | Kind::SlackToken
        | Kind::StripeKey
        | Kind::GoogleApiKey
        | Kind::TwilioKey
        | Kind::SendgridKey
        | Kind::OpenaiKey
        | Kind::AnthropicKey => {
            let prefix_len = raw
                .char_indices()
                .find(|(i, c)| *i >= 2 && (*c == '_' || *c == '-' || *c == '.'))
                .map_or(4, |(i, _)| i + 1)
                .min(8);
            let p: String = raw.chars().take(prefix_len).collect();
            format!("{p}{}", stars(12))
        }
        _ => keep(raw, 1, 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_hide_the_value() {
        assert_eq!(
            redact(Kind::Email, "jane.doe@acme-corp.com"),
            "j***@a***.com"
        );
        assert_eq!(
            redact(Kind::CreditCard, "4539 5787 6362 1486"),
            "************1486"
        );
        assert_eq!(redact(Kind::UsSsn, "536-22-1234"), "5*********4");
        assert_eq!(
            redact(
                Kind::GithubToken,
                "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
            ),
            "ghp_************"
        );
        assert_eq!(redact(Kind::PersonName, "Jane Doe"), "J*** D***");
        assert_eq!(redact(Kind::IpAddress, "203.0.113.77"), "203.***.***.***");
        assert!(!redact(Kind::Iban, "GB82WEST12345698765432").contains("1234"));
        // Short values never show more than a quarter.
        assert_eq!(redact(Kind::ApiKey, "abc"), "***");
        assert_eq!(redact(Kind::ApiKey, "abcdefgh"), "a******h");
        // Characters, not bytes; at most 12 stars.
        assert_eq!(
            redact(Kind::BearerToken, "ñabcdefghijklmnopqrstuvwxyzé"),
            "ñ************zé"
        );
    }
}
