//! The database schema, as numbered migrations applied in order at start.
//!
//! Every replica runs [`migrate`] when it starts; a PostgreSQL advisory lock
//! held for the whole run makes replicas starting together take turns, and
//! the `schema_migrations` table makes a second run a no-op. Migrations are
//! only ever appended: a released one never changes.

use crate::StoreError;
use tokio_postgres::Client;

/// The advisory lock key all replicas take while migrating ("mailsift" in
/// ASCII, so it does not collide with another application's small key).
const MIGRATION_LOCK: i64 = 0x6d61_696c_7369_6674;

/// (version, what it does, SQL). Applied in order, each in a transaction.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "messages, tokens and the audit trail",
        r#"
CREATE TABLE messages (
    id            BIGSERIAL PRIMARY KEY,
    -- The worker's stable id: a redelivered output is stored once.
    mailsift_id   TEXT NOT NULL UNIQUE,
    domain        TEXT NOT NULL,
    region        TEXT NOT NULL,
    disposition   TEXT NOT NULL,
    score         DOUBLE PRECISION NOT NULL,
    header_from   TEXT NOT NULL,
    mail_from     TEXT NOT NULL,
    rcpt_to       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    message_id    TEXT,
    received      TIMESTAMPTZ NOT NULL,
    expires       TIMESTAMPTZ NOT NULL,
    -- Journal-mode domains keep the verdict only: raw stays NULL.
    journal       BOOLEAN NOT NULL,
    size          INTEGER NOT NULL,
    -- Verdict (rules, findings with evidence, authentication), envelope
    -- and the AMQP headers release needs, as JSON.
    verdict       JSONB NOT NULL,
    raw           BYTEA,
    released      TIMESTAMPTZ,
    released_by   TEXT
);
-- The list is newest first, for every domain a token holds; these keep
-- the first pages index-only at millions of rows.
CREATE INDEX messages_domain_received ON messages (domain, received DESC, id DESC);
CREATE INDEX messages_domain_disposition_received
    ON messages (domain, disposition, received DESC, id DESC);
CREATE INDEX messages_received ON messages (received DESC, id DESC);
-- Retention purges by deadline, in small batches.
CREATE INDEX messages_expires ON messages (expires);

CREATE TABLE tokens (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    -- SHA-256 of the token, hex: the token itself is shown once and never stored.
    hash        TEXT NOT NULL UNIQUE,
    domains     TEXT[] NOT NULL,
    created     TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked     TIMESTAMPTZ,
    last_used   TIMESTAMPTZ
);

CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    token_id    BIGINT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    message     BIGINT,
    mailsift_id TEXT,
    domain      TEXT,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at DESC);
"#,
    ),
    (
        2,
        "substring search on sender, recipients and subject, within a domain",
        r#"
-- pg_trgm indexes substrings; btree_gin lets the domain sit in the same
-- index, so a filtered count reads only the token's domain's matches.
-- Both ship with PostgreSQL and are trusted extensions (no superuser).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX messages_from_trgm
    ON messages USING gin (domain, (header_from || ' ' || mail_from) gin_trgm_ops);
CREATE INDEX messages_rcpt_trgm ON messages USING gin (domain, rcpt_to gin_trgm_ops);
CREATE INDEX messages_subject_trgm ON messages USING gin (domain, subject gin_trgm_ops);
"#,
    ),
];

/// Applies the migrations this database lacks; returns how many ran.
/// Safe to call from several replicas at once.
pub async fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply(client).await;
    // Released on every path: a failed migration must not wedge the others.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let applied = result?;
    unlock?;
    Ok(applied)
}

async fn apply(client: &mut Client) -> Result<usize, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 description TEXT NOT NULL,
                 applied TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
    let current: i32 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::SchemaTooNew {
            database: current,
            known: newest,
        });
    }
    let mut applied = 0;
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Migration {
                version: *version,
                error: e.to_string(),
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
            &[version, description],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            version,
            description,
            "applied a quarantine schema migration"
        );
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_up_without_gaps() {
        for (i, (version, description, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version as usize, i + 1, "{description}");
            assert!(!sql.trim().is_empty());
        }
    }
}
