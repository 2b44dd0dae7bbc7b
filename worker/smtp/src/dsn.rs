//! Delivery status notifications (RFC 3464): the report a sender gets when
//! recipients were refused for good. Sent from the null sender, so it can
//! never bounce back and loop; never sent for a null-sender message.

use mailsift_core::message::rfc5322_date;

/// One recipient that failed.
pub struct Failed<'a> {
    /// The recipient.
    pub recipient: &'a str,
    /// The next hop's reply or what went wrong.
    pub diagnostic: &'a str,
}

/// Everything a report says.
pub struct Report<'a> {
    /// Our hostname (Reporting-MTA).
    pub reporting_mta: &'a str,
    /// The next hop that refused (Remote-MTA).
    pub remote_mta: &'a str,
    /// The original sender, to whom the report goes.
    pub sender: &'a str,
    /// The original message's stable id (for the Message-ID and tracing).
    pub id: &'a str,
    /// When the original arrived (Unix seconds).
    pub arrival: i64,
    /// When the report is made (Unix seconds).
    pub now: i64,
    /// The failed recipients.
    pub failed: &'a [Failed<'a>],
    /// The original message (only its header section is returned).
    pub original: &'a [u8],
}

/// Header lines of at most this size are returned to the sender.
const MAX_RETURNED_HEADERS: usize = 64 * 1024;

/// The whole report, CRLF line endings.
pub fn report(r: &Report<'_>) -> Vec<u8> {
    let boundary = format!("=_mailsift_{}", r.id);
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let mut m = String::new();
    m.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
        r.reporting_mta
    ));
    m.push_str(&format!("To: <{}>\r\n", clean(r.sender)));
    m.push_str("Subject: Undelivered Mail Returned to Sender\r\n");
    m.push_str(&format!("Date: {}\r\n", rfc5322_date(r.now)));
    m.push_str(&format!(
        "Message-ID: <dsn.{}@{}>\r\n",
        r.id, r.reporting_mta
    ));
    m.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ));
    m.push_str(&format!(
        "This is the mail system at {}.\r\n\r\nYour message could not be delivered to the \
         following recipients; the receiving server refused it:\r\n\r\n",
        r.reporting_mta
    ));
    for f in r.failed {
        m.push_str(&format!(
            "<{}>: {}\r\n",
            clean(f.recipient),
            clean(f.diagnostic)
        ));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    ));
    m.push_str(&format!("Reporting-MTA: dns; {}\r\n", r.reporting_mta));
    m.push_str(&format!("X-Mailsift-Id: {}\r\n", r.id));
    m.push_str(&format!("Arrival-Date: {}\r\n", rfc5322_date(r.arrival)));
    for f in r.failed {
        let status = enhanced_status(f.diagnostic).unwrap_or_else(|| "5.0.0".to_string());
        m.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {status}\r\n\
             Remote-MTA: dns; {}\r\nDiagnostic-Code: smtp; {}\r\n",
            clean(f.recipient),
            clean(r.remote_mta),
            clean(f.diagnostic)
        ));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut out = m.into_bytes();
    out.extend_from_slice(header_section(r.original));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The first `5.x.y` in a diagnostic.
fn enhanced_status(diagnostic: &str) -> Option<String> {
    diagnostic.split_whitespace().find_map(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        (parts.len() == 3
            && parts[0] == "5"
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())))
        .then(|| w.to_string())
    })
}

/// The original's header section (bounded), without the blank line.
fn header_section(message: &[u8]) -> &[u8] {
    let end = memchr_blank_line(message).unwrap_or(message.len());
    let end = end.min(MAX_RETURNED_HEADERS);
    &message[..end]
}

fn memchr_blank_line(m: &[u8]) -> Option<usize> {
    m.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| m.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_each_recipient_with_its_status() {
        let failed = [Failed {
            recipient: "bob@contoso.com",
            diagnostic: "RCPT TO: 550 5.1.1 no such user",
        }];
        let r = report(&Report {
            reporting_mta: "mx.gw.example",
            remote_mta: "contoso-com.mail.protection.outlook.com",
            sender: "alice@example.org",
            id: "abc",
            arrival: 1_700_000_000,
            now: 1_700_000_100,
            failed: &failed,
            original: b"From: alice@example.org\r\nSubject: hi\r\n\r\nsecret body\r\n",
        });
        let text = String::from_utf8(r).unwrap();
        assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status"));
        assert!(text.contains(
            "Final-Recipient: rfc822; bob@contoso.com\r\nAction: failed\r\nStatus: 5.1.1"
        ));
        assert!(text.contains("Subject: hi"));
        assert!(!text.contains("secret body"), "only the headers go back");
        assert!(text.starts_with("From: Mail Delivery System <MAILER-DAEMON@mx.gw.example>"));
    }
}
