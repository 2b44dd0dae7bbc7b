//! The industry's test strings, so an administrator can test the pipeline
//! as with every other filter: GTUBE in a body makes the message SPAM,
//! the EICAR test file (attached, zipped, in an archive inside an
//! archive, or as a whole text body) makes it MALICIOUS.

use super::{Check, Context, Findings};
use crate::finding::Finding;
use crate::inspect::signatures;
use crate::message::PartKind;

/// Registration.
pub const CHECK: Check = Check {
    name: "testfiles",
    run,
    rules: RULES,
};

crate::rules! {
    TEST_GTUBE: Spam, 100.0, "GTUBE, the spam filter test string";
    TEST_EICAR: Malicious, 100.0, "the EICAR antivirus test file";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let bodies = ctx
        .parts
        .iter()
        .filter(|p| matches!(p.kind, PartKind::Text | PartKind::Html) && p.depth == 0);
    if bodies
        .clone()
        .any(|p| p.text.is_some_and(signatures::has_gtube))
    {
        f.add(TEST_GTUBE, "the GTUBE string is in the body");
    }
    if let Some(found) = ctx
        .content
        .attachments
        .iter()
        .find_map(|a| a.eicar.as_deref())
    {
        f.add(TEST_EICAR, format!("EICAR test file: {found}"));
    } else if bodies.clone().any(|p| signatures::is_eicar(p.data)) {
        f.add(TEST_EICAR, "the body is the EICAR test file");
    }
    f.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{engine, ids, run};
    use crate::envelope::Envelope;
    use crate::Disposition;

    fn plain(body: &str) -> String {
        format!("From: admin@contoso.com\r\nTo: bob@contoso.com\r\nSubject: test\r\n\r\n{body}\r\n")
    }

    #[test]
    fn gtube_and_eicar() {
        let gtube = plain(&format!("Testing the filter.\r\n{}\r\n", signatures::GTUBE));
        assert_eq!(
            ids(&run(&CHECK, &gtube, Envelope::default())),
            vec!["TEST_GTUBE"]
        );
        let v = engine().classify(gtube.as_bytes(), None);
        assert_eq!(v.disposition, Disposition::Spam, "{v:?}");
        let eicar = plain(std::str::from_utf8(signatures::EICAR).expect("ascii"));
        assert_eq!(
            ids(&run(&CHECK, &eicar, Envelope::default())),
            vec!["TEST_EICAR"]
        );
        let v = engine().classify(eicar.as_bytes(), None);
        assert_eq!(v.disposition, Disposition::Malicious, "{v:?}");
        assert!(run(&CHECK, &plain("hello"), Envelope::default()).is_empty());
    }
}
