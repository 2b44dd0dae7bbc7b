//! Debian's dnsmasq serving the authentication fixtures' zone on a
//! loopback port (the test command installs it), with one domain
//! delegated to a socket that never answers.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// dnsmasq on 127.0.0.1:<port>, killed on drop.
pub struct Dnsmasq {
    child: Child,
    /// Where it answers.
    pub addr: SocketAddr,
    /// Holds the port `slow.example` is forwarded to; never read, so every
    /// query there times out.
    _blackhole: UdpSocket,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The zone of `corpus/auth/dns.yml`, as dnsmasq options.
fn zone_options() -> Vec<String> {
    let key = "v=DKIM1; k=ed25519; p=cGq1BlHSZNzRnrricApJfgPW9/31l3ilB8kqUQSOW8Y=";
    let txt = [
        ("shop.example", "v=spf1 ip4:192.0.2.0/27 -all"),
        (
            "_dmarc.shop.example",
            "v=DMARC1; p=reject; rua=mailto:dmarc@shop.example",
        ),
        ("s1._domainkey.shop.example", key),
        ("bank.example", "v=spf1 ip4:192.0.2.64/27 -all"),
        ("_dmarc.bank.example", "v=DMARC1; p=reject"),
        ("contoso.com", "v=spf1 ip4:40.107.0.0/16 -all"),
        ("_dmarc.contoso.com", "v=DMARC1; p=none"),
    ];
    txt.iter()
        .map(|(name, value)| format!("--txt-record={name},{value}"))
        .collect()
}

/// Starts dnsmasq with the zone of `corpus/auth/dns.yml` on a free
/// loopback port, with `slow.example` forwarded to a socket that never
/// answers. Fails loudly when dnsmasq is not installed.
pub fn start() -> Dnsmasq {
    let found = Command::new("dnsmasq").arg("--version").output().is_ok();
    assert!(
        found,
        "dnsmasq is not installed: run the tests with scripts/test.sh, which installs dnsmasq-base"
    );
    let blackhole = UdpSocket::bind("127.0.0.1:0").expect("blackhole socket");
    let hole = blackhole.local_addr().expect("addr").port();
    let port = free_udp_port();
    let mut args = vec![
        "--keep-in-foreground".to_string(),
        "--no-daemon".into(),
        format!("--port={port}"),
        "--listen-address=127.0.0.1".into(),
        "--bind-interfaces".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-poll".into(),
        "--conf-file=/dev/null".into(),
        "--pid-file=".into(),
        "--user=root".into(),
        "--local-ttl=300".into(),
        // Everything is answered locally (NXDOMAIN if unknown) ...
        "--local=/example/".into(),
        "--local=/com/".into(),
        // ... except slow.example, sent to a server that never answers.
        format!("--server=/slow.example/127.0.0.1#{hole}"),
    ];
    args.extend(zone_options());
    let mut child = Command::new("dnsmasq")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Wait until it answers.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("probe");
        let _ = probe.set_read_timeout(Some(Duration::from_millis(200)));
        // A minimal query for shop.example TXT.
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["shop", "example"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 16, 0, 1]);
        if probe.send_to(&q, addr).is_ok() && probe.recv(&mut [0u8; 512]).is_ok() {
            return Dnsmasq {
                child,
                addr,
                _blackhole: blackhole,
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("dnsmasq did not answer on {addr}");
}
