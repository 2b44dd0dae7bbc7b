//! PostgreSQL in tests: a throwaway database per test on the local server
//! (127.0.0.1:5432, trust auth), dropped afterwards, so tests never see each
//! other's rows. Fails loudly when no server is reachable (the test command
//! starts one; it never skips silently).

use std::process::{Command, Output};

/// A throwaway database, dropped (with its connections) on drop.
pub struct Database {
    /// Its name.
    pub name: String,
}

impl Database {
    /// Creates `mailsift_test_<pid>_<name>`.
    pub fn new(name: &str) -> Database {
        assert!(
            std::net::TcpStream::connect("127.0.0.1:5432").is_ok(),
            "no PostgreSQL on 127.0.0.1:5432: run the tests with scripts/test.sh, which starts it"
        );
        let name = format!(
            "mailsift_test_{}_{}",
            std::process::id(),
            name.replace('-', "_")
        );
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {name}"));
        Database { name }
    }

    /// The first column of the first row of `sql` run in this database,
    /// as text.
    pub fn query(&self, sql: &str) -> String {
        checked(sql, run(&self.name, sql))
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = run(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Runs one SQL command on the `postgres` database; panics with psql's
/// output on failure.
pub fn psql(sql: &str) -> String {
    checked(sql, run("postgres", sql))
}

/// `sql` through psql on `database`: unaligned, tuples only.
fn run(database: &str, sql: &str) -> Output {
    Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", database])
        .args(["-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql must be installed (scripts/test.sh installs postgresql-client)")
}

/// psql's output, or a panic with what it said.
fn checked(sql: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "psql `{sql}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
