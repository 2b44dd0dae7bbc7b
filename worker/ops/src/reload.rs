//! Hot reload of rules and policy (and of the trained model given with
//! them, which is watched and versioned with the rules).
//!
//! Triggers: SIGHUP, a change in the rules directory (watched as a
//! directory, because Kubernetes updates a ConfigMap mount by swapping its
//! `..data` symlink, which a watch on the files never sees) and a periodic
//! poll as a backstop. The new set is fully loaded and validated first,
//! then swapped whole; a broken file keeps the rules in use and says why
//! with file and line. Messages in flight finish on the rules they started
//! with (they hold their own `Arc`). A change of regions is refused: the
//! broker topology is built from them.

use arc_swap::ArcSwap;
use mailsift_core::Engine;
use mailsift_telemetry::events::{RulesLoaded, RulesReloadRefused};
use mailsift_telemetry::Telemetry;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long the rules directory must stay unchanged before a reload reads
/// it: editors and kubelet write in several steps.
const SETTLE: Duration = Duration::from_millis(300);

/// What a reload attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// The files are the ones in use (or were already refused as they are).
    Unchanged,
    /// New rules are in use.
    Swapped {
        /// The version before.
        from: String,
        /// The version now.
        to: String,
    },
    /// The new files were refused; the rules in use stay.
    Refused(String),
}

/// Reloads the rules of one directory into a shared engine.
pub struct Reloader {
    dir: PathBuf,
    /// The trained model reloaded with the rules, if any.
    model: Option<PathBuf>,
    engine: Arc<ArcSwap<Engine>>,
    telemetry: Arc<Telemetry>,
    /// The fingerprint last refused, so a poll does not refuse it again.
    refused: Mutex<Option<String>>,
}

impl Reloader {
    /// A reloader for `dir` (and the model file, if any), whose rules
    /// `engine` holds now.
    pub fn new(
        dir: &Path,
        model: Option<&Path>,
        engine: Arc<ArcSwap<Engine>>,
        telemetry: Arc<Telemetry>,
    ) -> Reloader {
        Reloader {
            dir: dir.to_path_buf(),
            model: model.map(Path::to_path_buf),
            engine,
            telemetry,
            refused: Mutex::new(None),
        }
    }

    /// Reports the rules loaded at start (version, readiness).
    pub fn announce(&self) {
        let current = self.engine.load();
        RulesLoaded {
            version: &current.rules().version,
            previous: None,
            dir: &self.dir.display().to_string(),
        }
        .emit(&self.telemetry);
    }

    /// Loads the directory again if its files changed, and swaps the
    /// engine when the new rules are valid.
    pub fn reload(&self) -> Reload {
        let current = self.engine.load_full();
        let kept = current.rules().version.clone();
        let refuse = |why: String, fingerprint: Option<String>| {
            RulesReloadRefused {
                error: &why,
                kept: &kept,
            }
            .emit(&self.telemetry);
            if let Ok(mut refused) = self.refused.lock() {
                *refused = fingerprint;
            }
            Reload::Refused(why)
        };
        let fingerprint = match self.fingerprint() {
            Ok(f) => f,
            Err(e) => return refuse(e.to_string(), None),
        };
        let already_refused = self
            .refused
            .lock()
            .is_ok_and(|r| r.as_deref() == Some(fingerprint.as_str()));
        if fingerprint == kept || already_refused {
            return Reload::Unchanged;
        }
        let next = match Engine::load_with_model(&self.dir, self.model.as_deref()) {
            Ok(engine) => engine,
            Err(e) => return refuse(e.to_string(), Some(fingerprint)),
        };
        let (before, after) = (
            current.rules().policy.regions(),
            next.rules().policy.regions(),
        );
        if before != after {
            return refuse(
                format!(
                    "{}: the policy's regions changed from [{}] to [{}]; the broker topology \
                     is built from them, so a region change needs the queues declared and \
                     the pool restarted, not a reload",
                    self.dir.join("policy.toml").display(),
                    before.join(", "),
                    after.join(", ")
                ),
                Some(fingerprint),
            );
        }
        let to = next.rules().version.clone();
        self.engine.store(Arc::new(next));
        if let Ok(mut refused) = self.refused.lock() {
            *refused = None;
        }
        RulesLoaded {
            version: &to,
            previous: Some(&kept),
            dir: &self.dir.display().to_string(),
        }
        .emit(&self.telemetry);
        Reload::Swapped { from: kept, to }
    }

    /// The version the files on disk would load as.
    fn fingerprint(&self) -> Result<String, mailsift_core::RulesError> {
        Engine::version_of(&self.dir, self.model.as_deref())
    }

    /// Reloads once the directory has stopped changing: a file written in
    /// place is empty or half written for a moment, and a poll that reads
    /// it then would swap in rules nobody wrote. A directory still changing
    /// is left to the next event or tick.
    async fn reload_when_settled(&self) -> Reload {
        let Ok(before) = self.fingerprint() else {
            return self.reload();
        };
        if before == self.engine.load().rules().version {
            return Reload::Unchanged;
        }
        tokio::time::sleep(SETTLE).await;
        match self.fingerprint() {
            Ok(after) if after != before => Reload::Unchanged,
            _ => self.reload(),
        }
    }

    /// Reloads on SIGHUP, on a change in the directory and every `poll`
    /// (none if zero), until `shutdown` turns true. Changes are gathered
    /// for a moment first: an editor or kubelet writes in several steps.
    pub async fn run(self, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        let (tx, mut changes) = mpsc::unbounded_channel::<()>();
        let watcher = {
            let tx = tx.clone();
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    let _ = tx.send(());
                }
            })
            .and_then(|mut w| {
                w.watch(&self.dir, RecursiveMode::NonRecursive)?;
                // The model's folder too (a file may be replaced by rename).
                if let Some(folder) = self.model.as_deref().and_then(Path::parent) {
                    let folder = if folder.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        folder
                    };
                    if folder != self.dir {
                        w.watch(folder, RecursiveMode::NonRecursive)?;
                    }
                }
                Ok(w)
            })
        };
        let _watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot watch the rules directory; reloading on SIGHUP and by polling");
                None
            }
        };
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP");
                None
            }
        };
        let mut ticks = (!poll.is_zero()).then(|| {
            let mut t = tokio::time::interval(poll);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        return;
                    }
                }
                Some(()) = changes.recv() => {
                    tokio::time::sleep(SETTLE).await;
                    while changes.try_recv().is_ok() {}
                    self.reload_when_settled().await;
                }
                Some(_) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGHUP: reloading rules");
                    if self.reload() == Reload::Unchanged {
                        tracing::info!("rules unchanged");
                    }
                }
                _ = async { match ticks.as_mut() { Some(t) => t.tick().await, None => std::future::pending().await } } => {
                    self.reload_when_settled().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(name: &str) -> (PathBuf, Reloader, Arc<ArcSwap<Engine>>, Arc<Telemetry>) {
        let dir = mailsift_testkit::rules_copy(name);
        let engine = Arc::new(ArcSwap::from_pointee(Engine::load(&dir).expect("rules")));
        let telemetry = Telemetry::new();
        let r = Reloader::new(&dir, None, engine.clone(), telemetry.clone());
        (dir, r, engine, telemetry)
    }

    #[test]
    fn valid_change_swaps_broken_change_keeps_region_change_is_refused() {
        let (dir, r, engine, t) = setup("reload-unit");
        let v0 = engine.load().rules().version.clone();
        assert_eq!(r.reload(), Reload::Unchanged);

        let scores = std::fs::read_to_string(dir.join("scores.toml")).expect("scores");
        std::fs::write(
            dir.join("scores.toml"),
            format!("{scores}\n[HDR_MISSING_DATE]\nweight = 4.5\n"),
        )
        .expect("write");
        let Reload::Swapped { from, to } = r.reload() else {
            panic!("not swapped");
        };
        assert_eq!(from, v0);
        assert_eq!(engine.load().rules().version, to);
        assert_eq!(
            engine
                .load()
                .rules()
                .score("HDR_MISSING_DATE")
                .map(|s| s.weight),
            Some(4.5)
        );

        std::fs::write(dir.join("scores.toml"), "[NOT_A_RULE]\nweight = 1.0\n").expect("write");
        let Reload::Refused(why) = r.reload() else {
            panic!("broken rules accepted");
        };
        assert!(why.contains("scores.toml:1:"), "{why}");
        assert_eq!(engine.load().rules().version, to, "old rules kept");
        assert_eq!(
            r.reload(),
            Reload::Unchanged,
            "the same broken files are not refused twice"
        );
        let metrics = t.encode();
        assert!(
            metrics.contains("mailsift_rules_last_reload_success 0"),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"mailsift_rules_reloads_total{result="error"} 1"#),
            "{metrics}"
        );

        std::fs::write(dir.join("scores.toml"), scores).expect("write");
        let policy = std::fs::read_to_string(dir.join("policy.toml")).expect("policy");
        std::fs::write(
            dir.join("policy.toml"),
            policy.replace("region = \"eu\"", "region = \"apac\""),
        )
        .expect("write");
        let Reload::Refused(why) = r.reload() else {
            panic!("region change accepted");
        };
        assert!(why.contains("regions changed"), "{why}");
        assert_eq!(engine.load().rules().version, to);
    }

    /// A small model whose only weight is on `token`.
    fn model_bytes(token: &str, weight: f32) -> Vec<u8> {
        use mailsift_core::model::{token_index, ModelMeta};
        let bits = 10;
        let mut weights = vec![0f32; 1 << bits];
        weights[token_index(&["w:", token], bits) as usize] = weight;
        let meta = ModelMeta::hand_built(bits);
        mailsift_core::Model::new(meta, weights)
            .expect("model")
            .to_bytes()
    }

    #[test]
    fn the_model_reloads_with_the_rules_and_a_broken_one_is_refused() {
        let dir = mailsift_testkit::rules_copy("reload-model");
        let path = dir.join("model.bin");
        std::fs::write(&path, model_bytes("viagra", 4.0)).expect("write");
        let engine = Arc::new(ArcSwap::from_pointee(
            Engine::load_with_model(&dir, Some(&path)).expect("rules and model"),
        ));
        let r = Reloader::new(&dir, Some(&path), engine.clone(), Telemetry::new());
        let v0 = engine.load().rules().version.clone();
        assert!(v0.contains('+'), "the version names the model: {v0}");
        assert_eq!(r.reload(), Reload::Unchanged);

        std::fs::write(&path, model_bytes("casino", 4.0)).expect("write");
        let Reload::Swapped { to, .. } = r.reload() else {
            panic!("a new model is not swapped in");
        };
        let weight = |e: &Engine, t: &str| e.rules().model.as_ref().map(|m| m.weight(&["w:", t]));
        assert_eq!(weight(&engine.load(), "casino"), Some(4.0));

        let mut corrupt = model_bytes("lottery", 4.0);
        let at = corrupt.len() / 2;
        corrupt[at] ^= 1;
        std::fs::write(&path, corrupt).expect("write");
        let Reload::Refused(why) = r.reload() else {
            panic!("a corrupt model was accepted");
        };
        assert!(
            why.contains("corrupt") && why.contains("model.bin"),
            "{why}"
        );
        assert_eq!(engine.load().rules().version, to, "the model in use stays");
        assert_eq!(weight(&engine.load(), "casino"), Some(4.0));
        let _ = std::fs::remove_dir_all(dir);
    }
}
