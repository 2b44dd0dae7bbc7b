//! Postfix in front, the classic content-filter layout: Postfix's smtpd
//! hands every message to `mailsift edge`, the worker classifies it, and
//! `mailsift deliver --smarthost` re-injects it into a second Postfix smtpd
//! without the filter, which relays it to the customer's server (aiosmtpd).

use mailsift_testkit::broker::Vhost;
use mailsift_testkit::postfix::Postfix;
use mailsift_testkit::smtp::{free_port, send, test_certificate, wait_for_port, Process, Sink};
use mailsift_testkit::tempdir;
use std::path::Path;
use std::time::Duration;

#[test]
fn a_message_sent_to_postfix_comes_out_delivered_and_stamped() {
    let vhost = Vhost::new("postfix");
    let dir = tempdir("postfix");
    let cert = test_certificate(&dir, &["localhost", "127.0.0.1"]);
    let sink = Sink::start(&dir.join("sink"), Some((&cert.0, &cert.1)), None);
    let edge_port = free_port();
    let postfix = Postfix::start(&dir.join("postfix"), edge_port, sink.port);
    let url = vhost.url();
    let env = [("MAILSIFT_AMQP_URL", url.as_str()), ("RUST_LOG", "warn")];
    let bin = Path::new(env!("CARGO_BIN_EXE_mailsift"));
    let listen = format!("127.0.0.1:{edge_port}");
    let _edge = Process::start(
        "edge",
        bin,
        &["edge", "--listen", &listen, "--hostname", "mx.test.example"],
        &env,
    );
    let _worker = Process::start("worker", bin, &["worker", "--no-auth"], &env);
    let smarthost = format!("127.0.0.1:{}", postfix.reinject_port);
    let _deliver = Process::start(
        "deliver",
        bin,
        &[
            "deliver",
            "--smarthost",
            &smarthost,
            "--hostname",
            "gw.test.example",
        ],
        &env,
    );
    wait_for_port(edge_port, Duration::from_secs(20));
    let report = send(
        postfix.port,
        &[
            "--count",
            "3",
            "--tag",
            "postfix",
            "--to",
            "bob@contoso.com",
        ],
    );
    assert_eq!(report["accepted"], 3, "{report}");
    let got = sink.wait_for(3, Duration::from_secs(60));
    assert_eq!(got.len(), 3, "Postfix log:\n{}", postfix.log());
    for m in &got {
        let text = m.text();
        // Postfix's re-injection hop on top, then our stamp, then our
        // edge's Received line with Postfix as the client, then Postfix's.
        let stamp = text.find("X-Mailsift-Disposition: ").expect("stamped");
        let edge = text
            .find("by mx.test.example (mailsift)")
            .expect("through the edge");
        assert!(stamp < edge, "the stamp is above the edge's Received line");
        assert!(
            text.contains("from pf.test.example ([127.0.0.1])"),
            "{text:.600}"
        );
        assert!(
            text.matches("(Postfix)").count() >= 2,
            "in and out through Postfix: {text:.800}"
        );
        assert_eq!(
            m.meta["helo"], "pf.test.example",
            "Postfix relayed it to the next hop"
        );
    }
    assert!(postfix.wait_for_log("relay=127.0.0.1[127.0.0.1]:", Duration::from_secs(1)));
    assert!(
        postfix.log().contains(&format!(":{edge_port}, ")),
        "the content filter went through the edge"
    );
}
