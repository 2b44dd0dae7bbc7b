//! CPU time and memory of processes, read from Linux's `/proc`:
//! what `mailsift bench-amqp` reports per message for the worker, the relay
//! and the broker. Every reader returns `None` off Linux or for a process
//! that is not on this machine.

use std::path::Path;

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`,
/// 100 on every Linux architecture the product runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of process `pid`, all its threads.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    cpu_seconds(&Path::new("/proc").join(pid.to_string()).join("stat"))
}

/// User + system CPU seconds of this process's children that have been
/// waited for (a child's time counts once `wait` returned).
pub fn waited_children_cpu_seconds() -> Option<f64> {
    stat_seconds(Path::new("/proc/self/stat"), 13)
}

fn cpu_seconds(stat: &Path) -> Option<f64> {
    stat_seconds(stat, 11)
}

/// The sum of two consecutive tick fields of a `stat` file, in seconds,
/// counted from field 3: index 11 is utime + stime (fields 14 and 15),
/// 13 cutime + cstime (16 and 17).
fn stat_seconds(stat: &Path, index: usize) -> Option<f64> {
    let text = std::fs::read_to_string(stat).ok()?;
    // Field 2, the command name, is in parentheses and may hold spaces and
    // parentheses: count the fields from the last `)`.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let user: u64 = fields.get(index)?.parse().ok()?;
    let system: u64 = fields.get(index + 1)?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// Peak resident set size (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The RabbitMQ node on this machine: `rabbitmqctl status`'s `OS PID`,
/// else the one `beam.smp` process whose command line names rabbit.
pub fn rabbitmq_pid() -> Option<u32> {
    let from_node: Option<u32> = std::process::Command::new("rabbitmqctl")
        .args(["status"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.trim().strip_prefix("OS PID:")?.trim().parse().ok())
        });
    from_node
        .filter(|pid| Path::new("/proc").join(pid.to_string()).exists())
        .or_else(beam_with_rabbit)
}

fn beam_with_rabbit() -> Option<u32> {
    let mut found = std::fs::read_dir("/proc").ok()?.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("beam.smp") && cmdline.contains("rabbit")).then_some(pid)
    });
    // Two nodes on one machine: ambiguous, ask for --broker-pid.
    match (found.next(), found.next()) {
        (Some(pid), None) => Some(pid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let before = process_cpu_seconds(pid).expect("/proc/<pid>/stat");
        // Burn CPU until a tick or two shows (ticks are 10 ms).
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while process_cpu_seconds(pid).unwrap_or(0.0) < before + 0.02
            && started.elapsed().as_secs() < 10
        {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        assert!(process_cpu_seconds(pid).unwrap_or(0.0) >= before + 0.02);
        assert!(peak_rss_kb(pid).is_some_and(|kb| kb > 100));
    }

    #[test]
    fn a_waited_child_counts() {
        let before = waited_children_cpu_seconds().expect("/proc/self/stat");
        // A child that burns a little CPU, then is waited for.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh");
        assert!(status.success());
        assert!(waited_children_cpu_seconds().unwrap_or(0.0) > before);
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses() {
        let dir = std::env::temp_dir().join(format!("mailsift-stat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stat = dir.join("stat");
        // Fields 3..15 after the name: utime 250 ticks, stime 50.
        std::fs::write(
            &stat,
            "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1",
        )
        .unwrap();
        assert_eq!(cpu_seconds(&stat), Some(3.0));
        assert_eq!(stat_seconds(&stat, 13), Some(0.1));
        std::fs::write(&stat, "42 (truncated").unwrap();
        assert_eq!(cpu_seconds(&stat), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_such_process() {
        assert_eq!(process_cpu_seconds(u32::MAX), None);
        assert_eq!(peak_rss_kb(u32::MAX), None);
    }
}
