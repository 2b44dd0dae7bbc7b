//! Liveness and readiness, as the HTTP endpoints report them.

use std::sync::atomic::{AtomicBool, Ordering};

/// What `/healthz` and `/readyz` report. Alive as long as the process
/// answers; ready when the broker is connected and the rules are loaded,
/// and not any more once a shutdown began (so a pool stops sending work to
/// a draining pod first).
#[derive(Debug, Default)]
pub struct Health {
    broker: AtomicBool,
    rules: AtomicBool,
    stopping: AtomicBool,
}

impl Health {
    /// The broker connection came up or went away.
    pub fn set_broker(&self, connected: bool) {
        self.broker.store(connected, Ordering::Relaxed);
    }

    /// Rules (and policy) are loaded and in use.
    pub fn set_rules_loaded(&self) {
        self.rules.store(true, Ordering::Relaxed);
    }

    /// A shutdown began: not ready any more.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Ready for work, and if not, why.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.stopping.load(Ordering::Relaxed) {
            Err("shutting down")
        } else if !self.rules.load(Ordering::Relaxed) {
            Err("rules not loaded")
        } else if !self.broker.load(Ordering::Relaxed) {
            Err("broker not connected")
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_rules_and_broker_and_no_shutdown() {
        let h = Health::default();
        assert_eq!(h.readiness(), Err("rules not loaded"));
        h.set_rules_loaded();
        assert_eq!(h.readiness(), Err("broker not connected"));
        h.set_broker(true);
        assert_eq!(h.readiness(), Ok(()));
        h.set_stopping();
        assert_eq!(h.readiness(), Err("shutting down"));
    }
}
