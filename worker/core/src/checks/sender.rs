//! The recipient domain's blocked senders: addresses, domains or IP ranges
//! whose mail is always MALICIOUS.

use super::{Check, Context, Findings};
use crate::finding::Finding;

/// Registration.
pub const CHECK: Check = Check {
    name: "sender",
    run,
    rules: RULES,
};

crate::rules! {
    SENDER_BLOCKED: Malicious, 20.0, "sender on the recipient domain's blocked_senders list";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let list = &ctx.policy.blocked_senders;
    if list.is_empty() {
        return Vec::new();
    }
    // A block list needs no alignment: matching any claimed identity is enough.
    let from = ctx.message.from().into_iter().filter_map(|m| m.address);
    let mail_from = ctx.envelope.mail_from.clone().filter(|m| !m.is_empty());
    let hit = from
        .chain(mail_from)
        .find_map(|a| {
            list.match_address(&a)
                .map(|m| format!("{a} matches blocked {m}"))
        })
        .or_else(|| {
            let ip = ctx.origin.ip?;
            list.match_ip(ip)
                .map(|m| format!("origin {ip} matches blocked {m}"))
        });
    if let Some(evidence) = hit {
        f.add(
            SENDER_BLOCKED,
            format!("{evidence} (policy {})", ctx.policy.domain),
        );
    }
    f.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    #[test]
    fn blocked_domain_and_ip() {
        let m =
            "From: x@sales.known-bad-vendor.biz\r\nTo: a@contoso.com\r\nSubject: s\r\n\r\nb\r\n";
        assert_eq!(
            ids(&run(&CHECK, m, Envelope::default())),
            vec!["SENDER_BLOCKED"]
        );
        let env = Envelope {
            peer_ip: Some("185.234.216.7".parse().unwrap()),
            rcpt_to: vec!["a@contoso.com".into()],
            ..Envelope::default()
        };
        let m = "From: x@fine.example\r\nTo: a@contoso.com\r\nSubject: s\r\n\r\nb\r\n";
        assert_eq!(ids(&run(&CHECK, m, env)), vec!["SENDER_BLOCKED"]);
        let m = "From: x@fine.example\r\nTo: a@elsewhere.example\r\nSubject: s\r\n\r\nb\r\n";
        assert!(run(&CHECK, m, Envelope::default()).is_empty());
    }
}
