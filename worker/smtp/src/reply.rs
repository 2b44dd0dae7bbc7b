//! SMTP replies: a code, an enhanced status code (RFC 3463) and a text.
//! README, "SMTP edge", lists every reply the edge sends and what it means.

use std::fmt;

/// One single-line SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced status code, e.g. `5.7.1`.
    pub status: &'static str,
    /// The text.
    pub text: String,
}

impl Reply {
    /// A reply.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status,
            text: text.into(),
        }
    }

    /// The reply as sent, with its CRLF.
    pub fn to_wire(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// A 4xx: the sender keeps the message and tries again.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A text never carries a line break (it may quote peer input).
        let text: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write!(f, "{} {} {}\r\n", self.code, self.status, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_whatever_the_text() {
        let r = Reply::new(550, "5.7.1", "no\r\nrelay");
        assert_eq!(r.to_string(), "550 5.7.1 no  relay\r\n");
        assert!(!r.is_temporary());
        assert!(Reply::new(451, "4.3.0", "later").is_temporary());
    }
}
