//! A private Postfix instance (Debian's package) for the content-filter
//! layout: its smtpd hands every message to the mailsift edge
//! (`content_filter`), a second smtpd without the filter takes mail back
//! from `mailsift deliver`, and it relays that to the next hop. Runs from a
//! temporary configuration directory; needs root (Postfix's master does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A running Postfix, stopped on drop.
pub struct Postfix {
    dir: PathBuf,
    /// Where senders connect (the filtered smtpd).
    pub port: u16,
    /// Where `mailsift deliver` re-injects (no filter).
    pub reinject_port: u16,
}

fn postfix(dir: &Path, what: &str) -> std::process::Output {
    // Postfix logs to syslog, which these machines may not have: its own
    // log file is set in main.cf.
    Command::new("postfix")
        .arg("-c")
        .arg(dir.join("etc"))
        .arg(what)
        .output()
        .unwrap_or_else(|e| {
            panic!("postfix {what}: {e} (the test command installs Debian's postfix)")
        })
}

impl Postfix {
    /// Starts Postfix in `dir`: the filter sends to the edge on
    /// `edge_port`, relayed mail goes to `relay_port`.
    pub fn start(dir: &Path, edge_port: u16, relay_port: u16) -> Postfix {
        let (port, reinject_port) = (crate::smtp::free_port(), crate::smtp::free_port());
        for sub in ["etc", "queue", "data"] {
            std::fs::create_dir_all(dir.join(sub)).expect("postfix dir");
        }
        let d = dir.display();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {d}/queue\n\
             data_directory = {d}/data\n\
             meta_directory = /etc/postfix\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = pf.test.example\n\
             mydomain = test.example\n\
             myorigin = $myhostname\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             mydestination =\n\
             local_transport = error:no local delivery here\n\
             relay_domains = contoso.com, fabrikam.com\n\
             mynetworks = 127.0.0.0/8\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             relayhost = [127.0.0.1]:{relay_port}\n\
             smtp_tls_security_level = may\n\
             smtp_dns_support_level = disabled\n\
             maillog_file_prefixes = {d}\n\
             maillog_file = {d}/maillog\n\
             alias_maps =\n\
             alias_database =\n\
             biff = no\n"
        );
        std::fs::write(dir.join("etc/main.cf"), main_cf).expect("main.cf");
        let services = [
            "pickup    unix  n - n 60 1 pickup",
            "cleanup   unix  n - n - 0 cleanup",
            "qmgr      unix  n - n 300 1 qmgr",
            "tlsmgr    unix  - - n 1000? 1 tlsmgr",
            "rewrite   unix  - - n - - trivial-rewrite",
            "bounce    unix  - - n - 0 bounce",
            "defer     unix  - - n - 0 bounce",
            "trace     unix  - - n - 0 bounce",
            "verify    unix  - - n - 1 verify",
            "flush     unix  n - n 1000? 0 flush",
            "proxymap  unix  - - n - - proxymap",
            "smtp      unix  - - n - - smtp",
            "relay     unix  - - n - - smtp",
            "showq     unix  n - n - - showq",
            "error     unix  - - n - - error",
            "retry     unix  - - n - - error",
            "discard   unix  - - n - - discard",
            "anvil     unix  - - n - 1 anvil",
            "scache    unix  - - n - 1 scache",
            "postlog   unix-dgram n - n - 1 postlogd",
        ];
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd -o content_filter=smtp:[127.0.0.1]:{edge_port}\n\
             127.0.0.1:{reinject_port} inet n - n - - smtpd -o content_filter= \
             -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters\n{}\n",
            services.join("\n")
        );
        std::fs::write(dir.join("etc/master.cf"), master_cf).expect("master.cf");
        let chown = Command::new("chown")
            .arg("postfix")
            .arg(dir.join("data"))
            .status()
            .expect("chown");
        assert!(
            chown.success(),
            "chown postfix {}/data (Postfix needs root)",
            d
        );
        let out = postfix(dir, "start");
        let pf = Postfix {
            dir: dir.to_path_buf(),
            port,
            reinject_port,
        };
        assert!(
            out.status.success(),
            "postfix start failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            pf.log()
        );
        crate::smtp::wait_for_port(port, Duration::from_secs(20));
        pf
    }

    /// Postfix's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Waits until the log has `needle`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < within {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = postfix(&self.dir, "stop");
    }
}
