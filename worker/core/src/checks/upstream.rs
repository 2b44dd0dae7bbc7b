//! Authentication an upstream gateway already ran. Behind Office 365 (or
//! another gateway), the trusted relay checked SPF, DKIM and DMARC for the
//! original sender and wrote `Authentication-Results`; our own checks see
//! only the relay. For a domain whose policy lists the upstream's
//! authserv-ids (`upstream_authserv_ids`), those results count, but only
//! from headers the trusted relays added after the origin hop: the same
//! header written by the sender, anywhere below, is ignored.

use super::{Check, Context, Findings};
use crate::finding::Finding;
use crate::text::clip;

/// Registration.
pub const CHECK: Check = Check {
    name: "upstream",
    run,
    rules: RULES,
};

crate::rules! {
    AUTH_UPSTREAM_DMARC_REJECT: Spoof, 8.0, "the upstream gateway found DMARC failing under p=reject or p=quarantine";
    AUTH_UPSTREAM_DMARC_FAIL: Spoof, 2.0, "the upstream gateway found DMARC failing (p=none)";
    AUTH_UPSTREAM_COMPAUTH_FAIL: Spoof, 3.0, "Microsoft composite authentication failed upstream (compauth=fail)";
    AUTH_UPSTREAM_PASS: None, 0.0, "the upstream gateway found the sender authenticated";
}

/// The special authserv-id for Exchange Online's header, which names none.
pub const OFFICE365: &str = "office365";

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let ids = &ctx.policy.upstream_authserv_ids;
    if ids.is_empty() || ctx.policy.trusted_relays.is_empty() {
        return f.into_vec();
    }
    // Only headers above the Received line that recorded the origin were
    // written by the trusted relays; with no such line, none were.
    let Some(origin_hop) = ctx.origin.hop else {
        return f.into_vec();
    };
    let mut received = 0;
    for (name, value) in ctx.message.headers() {
        if name.eq_ignore_ascii_case("Received") {
            if received == origin_hop {
                break;
            }
            received += 1;
            continue;
        }
        if !name.eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let Some(results) = Upstream::parse(value) else {
            continue;
        };
        if !ids.contains(&results.authserv_id) {
            continue;
        }
        let by = if results.authserv_id == OFFICE365 {
            "Exchange Online".to_string()
        } else {
            results.authserv_id.clone()
        };
        match results.dmarc.as_deref() {
            Some("fail") if results.enforced => f.add(
                AUTH_UPSTREAM_DMARC_REJECT,
                format!("{by}: {}", clip(value.trim(), 200)),
            ),
            Some("fail") => f.add(
                AUTH_UPSTREAM_DMARC_FAIL,
                format!("{by}: {}", clip(value.trim(), 200)),
            ),
            Some("pass") => f.add(AUTH_UPSTREAM_PASS, format!("{by}: dmarc=pass")),
            _ => {}
        }
        if results.compauth.as_deref() == Some("fail") {
            f.add(AUTH_UPSTREAM_COMPAUTH_FAIL, format!("{by}: compauth=fail"));
        }
        break;
    }
    f.into_vec()
}

/// What one `Authentication-Results` header says about DMARC.
#[derive(Debug, PartialEq)]
struct Upstream {
    /// The authserv-id, lower case; [`OFFICE365`] when the header starts
    /// with a result instead (Exchange Online writes it that way).
    authserv_id: String,
    /// `dmarc=` result, lower case.
    dmarc: Option<String>,
    /// The failing domain's policy would reject or quarantine: `action=`
    /// (Microsoft) or `p=` in a comment (Google and others).
    enforced: bool,
    /// `compauth=` result (Microsoft).
    compauth: Option<String>,
}

impl Upstream {
    fn parse(value: &str) -> Option<Upstream> {
        let mut parts = value.split(';');
        let first = parts.next()?.trim();
        let (authserv_id, rest): (String, Vec<&str>) = if first.contains('=') {
            (
                OFFICE365.into(),
                std::iter::once(first).chain(parts).collect(),
            )
        } else {
            let id = first.split_whitespace().next()?.to_ascii_lowercase();
            (id, parts.collect())
        };
        let mut out = Upstream {
            authserv_id,
            dmarc: None,
            enforced: false,
            compauth: None,
        };
        for entry in rest {
            let lower = entry.trim().to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("dmarc=") {
                out.dmarc = v.split([' ', '(']).next().map(str::to_string);
                out.enforced = [
                    "action=quarantine",
                    "action=reject",
                    "action=oreject",
                    "p=reject",
                    "p=quarantine",
                ]
                .iter()
                .any(|k| lower.contains(k));
            } else if let Some(v) = lower.strip_prefix("compauth=") {
                out.compauth = v.split([' ', '(']).next().map(str::to_string);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    #[test]
    fn reads_the_forms_gateways_write() {
        let o365 = Upstream::parse(
            "spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=evil.example; dkim=none (message not signed) \
             header.d=none;dmarc=fail action=quarantine header.from=contoso.com;compauth=fail reason=000",
        )
        .expect("parses");
        assert_eq!(o365.authserv_id, OFFICE365);
        assert_eq!(o365.dmarc.as_deref(), Some("fail"));
        assert!(o365.enforced);
        assert_eq!(o365.compauth.as_deref(), Some("fail"));
        let google = Upstream::parse(
            "mx.google.com; dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=paypal.com",
        )
        .expect("parses");
        assert_eq!(google.authserv_id, "mx.google.com");
        assert!(google.enforced);
        let none = Upstream::parse("mx.example; dmarc=fail (p=NONE) header.from=x.example")
            .expect("parses");
        assert!(!none.enforced);
    }

    /// Behind EOP (trusted relay 40.107.0.0/16, `hops = 1`): EOP's header
    /// above its Received line counts; the sender's own, below, does not.
    #[test]
    fn only_the_trusted_relays_header_counts() {
        let eop = "Authentication-Results: spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=evil.example; \
                   dmarc=fail action=oreject header.from=paypal.com;compauth=fail reason=000\r\n\
                   Received: from evil.example (203.0.113.9) by eop.outlook.com (40.107.1.1) with ESMTPS; Tue, 12 Mar 2024 10:15:01 +0000\r\n";
        let forged =
            "Authentication-Results: spf=pass smtp.mailfrom=paypal.com; dmarc=fail action=oreject \
                      header.from=paypal.com;compauth=fail reason=000\r\n";
        let msg = |above: &str, below: &str| {
            format!(
                "Received: from eop.outlook.com ([40.107.1.1]) by mx.fabrikam.com; Tue, 12 Mar 2024 10:15:02 +0000\r\n\
                 {above}{below}From: PayPal <service@paypal.com>\r\nTo: adele@fabrikam.com\r\nSubject: s\r\n\r\nbody\r\n"
            )
        };
        let env = Envelope {
            peer_ip: Some("40.107.1.1".parse().unwrap()),
            rcpt_to: vec!["adele@fabrikam.com".into()],
            ..Envelope::default()
        };
        let f = run(&CHECK, &msg(eop, ""), env.clone());
        assert_eq!(
            ids(&f),
            vec!["AUTH_UPSTREAM_DMARC_REJECT", "AUTH_UPSTREAM_COMPAUTH_FAIL"]
        );
        let clean_eop = "Received: from evil.example (203.0.113.9) by eop.outlook.com (40.107.1.1) with ESMTPS; Tue, 12 Mar 2024 10:15:01 +0000\r\n";
        let f = run(&CHECK, &msg(clean_eop, forged), env);
        assert!(
            f.is_empty(),
            "the sender's own header is not believed: {f:?}"
        );
    }
}
