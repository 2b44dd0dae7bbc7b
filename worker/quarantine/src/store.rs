//! Every query the console runs, over a connection pool. Callers pass the
//! domains a token may see; every read and write is limited to them here,
//! once, so no handler can forget it.

use crate::record::Held;
use crate::schema;
use crate::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

/// Largest page a list returns.
pub const MAX_LIMIT: i64 = 500;
/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Deepest offset a list accepts (past it, narrow the filter instead).
pub const MAX_OFFSET: i64 = 100_000;
/// Totals are counted exactly up to this many; past it `total_exact` is
/// false (counting millions of rows per page view would be the slowest
/// part of the list).
pub const COUNT_CAP: i64 = 10_000;

/// Time as the API shows it: RFC 3339, UTC.
const RFC3339: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS"Z"'"#;

/// The longest a console query may run (each is an index look-up or a
/// small batch).
pub const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest a connection to PostgreSQL may take to open.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The quarantine database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

/// The outcome of storing a held message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new row, with its id.
    New(i64),
    /// The same output was stored before (a redelivery).
    Duplicate,
}

/// The list filters (all optional), as the API and the page take them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Filter {
    /// One domain (must be one the token holds).
    pub domain: Option<String>,
    /// One disposition word.
    pub disposition: Option<String>,
    /// Substring of the From header or the envelope sender.
    pub from: Option<String>,
    /// Substring of the envelope recipients.
    pub to: Option<String>,
    /// Substring of the subject.
    pub subject: Option<String>,
    /// Received at or after (RFC 3339 or a date).
    pub since: Option<String>,
    /// Received before (RFC 3339 or a date).
    pub until: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<i64>,
    /// Rows to skip (at most 100,000).
    pub offset: Option<i64>,
}

/// One row of the list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The console's id.
    pub id: i64,
    /// The policy domain.
    pub domain: String,
    /// One of the six words.
    pub disposition: String,
    /// The worker's score.
    pub score: f64,
    /// The From header.
    pub from: String,
    /// The envelope recipients.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// When the edge received it (RFC 3339).
    pub received: String,
    /// When it was released, if it was.
    pub released: Option<String>,
}

/// A page of the list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Page {
    /// Messages matching the filter (exact up to [`COUNT_CAP`]).
    pub total: i64,
    /// False when `total` stopped at [`COUNT_CAP`].
    pub total_exact: bool,
    /// Newest first.
    pub messages: Vec<Summary>,
}

/// Everything about one message but its bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Detail {
    /// The list row.
    #[serde(flatten)]
    pub summary: Summary,
    /// The worker's stable id.
    pub mailsift_id: String,
    /// Delivery region.
    pub region: String,
    /// The envelope sender.
    pub mail_from: String,
    /// The Message-ID header.
    pub message_id: Option<String>,
    /// Journal-mode domain: verdict only, nothing to preview or release.
    pub journal: bool,
    /// Size of the original in bytes.
    pub size: i32,
    /// When retention purges it.
    pub expires: String,
    /// Who released it.
    pub released_by: Option<String>,
    /// Disposition, score, rules, findings with evidence, authentication,
    /// envelope.
    pub verdict: Value,
}

/// A token as `token list` shows it (never the token itself).
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    /// Its id (for `token revoke`).
    pub id: i64,
    /// Its name (who it belongs to; the audit trail shows it).
    pub name: String,
    /// The domains it may see.
    pub domains: Vec<String>,
    /// When it was created.
    pub created: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
    /// When it was last used.
    pub last_used: Option<String>,
}

/// Who is asking: a token that is valid now.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token's id.
    pub token_id: i64,
    /// The token's name.
    pub name: String,
    /// The domains it may see.
    pub domains: Vec<String>,
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

impl Store {
    /// Connects (a pool of `size` connections) and migrates the schema.
    pub async fn connect(url: &str, size: usize) -> Result<Store, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Url(format!("{e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let (mut client, connection) = config.connect(NoTls).await?;
        let driver = tokio::spawn(connection);
        schema::migrate(&mut client).await?;
        drop(client);
        let _ = driver.await;
        // Every query of the pool is bounded (migrations above are not: an
        // index build on a large table may take longer), so a stuck query
        // or lock gives a clear error instead of a request that never ends.
        // The URL's own `options` are kept, its own timeout included.
        let own = config.get_options().unwrap_or("").to_string();
        if !own.contains("statement_timeout") {
            let bounded = format!(
                "{own} -c statement_timeout={}",
                STATEMENT_TIMEOUT.as_millis()
            );
            config.options(bounded.trim_start());
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // Waiting for a connection is bounded: a stuck database makes
        // requests fail with a clear error instead of piling up.
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Url(e.to_string()))?;
        Ok(Store { pool })
    }

    /// Stores a held message once: a second copy with the same mailsift id
    /// is a duplicate and changes nothing.
    pub async fn insert(&self, held: &Held) -> Result<Stored, StoreError> {
        let client = self.pool.get().await?;
        let received = held.received as f64;
        let days = i32::try_from(held.retention_days).unwrap_or(i32::MAX);
        let row = client
            .query_opt(
                "INSERT INTO messages (mailsift_id, domain, region, disposition, score,
                     header_from, mail_from, rcpt_to, subject, message_id, received, expires,
                     journal, size, verdict, raw)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11),
                     to_timestamp($11) + make_interval(days => $12), $13, $14, $15, $16)
                 ON CONFLICT (mailsift_id) DO NOTHING
                 RETURNING id",
                &[
                    &held.mailsift_id,
                    &held.domain,
                    &held.region,
                    &held.disposition,
                    &held.score,
                    &held.header_from,
                    &held.mail_from,
                    &held.rcpt_to,
                    &held.subject,
                    &held.message_id,
                    &received,
                    &days,
                    &held.journal,
                    &held.size,
                    &held.verdict,
                    &held.raw,
                ],
            )
            .await?;
        Ok(row.map_or(Stored::Duplicate, |r| Stored::New(r.get(0))))
    }

    /// A page of `who`'s messages matching `filter`, newest first.
    pub async fn list(&self, who: &Principal, filter: &Filter) -> Result<Page, StoreError> {
        let (clause, mut params) = where_clause(who, filter)?;
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let offset = filter.offset.unwrap_or(0);
        if !(0..=MAX_OFFSET).contains(&offset) {
            return Err(StoreError::BadFilter(format!(
                "offset must be between 0 and {MAX_OFFSET}: narrow the filter (since/until) instead"
            )));
        }
        let client = self.pool.get().await?;
        let count_sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE {clause} LIMIT {}) t",
            COUNT_CAP + 1
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        let total: i64 = client
            .query_one(&count_sql, &refs)
            .await
            .map_err(bad_time)?
            .get(0);
        let n = params.len();
        params.push(Box::new(limit));
        params.push(Box::new(offset));
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        let sql = format!(
            "SELECT {SUMMARY} FROM messages WHERE {clause}
             ORDER BY received DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = client.query(&sql, &refs).await?;
        Ok(Page {
            total: total.min(COUNT_CAP),
            total_exact: total <= COUNT_CAP,
            messages: rows.iter().map(summary).collect(),
        })
    }

    /// One of `who`'s messages, without its bytes.
    pub async fn detail(&self, who: &Principal, id: i64) -> Result<Option<Detail>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {SUMMARY}, mailsift_id, region, mail_from, message_id, journal, size,
                 to_char(expires AT TIME ZONE 'UTC', {RFC3339}), released_by, verdict
             FROM messages WHERE id = $1 AND domain = ANY($2)"
        );
        let row = client.query_opt(&sql, &[&id, &who.domains]).await?;
        Ok(row.map(|r| Detail {
            summary: summary(&r),
            mailsift_id: r.get(9),
            region: r.get(10),
            mail_from: r.get(11),
            message_id: r.get(12),
            journal: r.get(13),
            size: r.get(14),
            expires: r.get(15),
            released_by: r.get(16),
            verdict: r.get(17),
        }))
    }

    /// The original bytes of one of `who`'s messages (`Some(None)` for a
    /// journal-mode verdict, which has none).
    pub async fn raw(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT raw FROM messages WHERE id = $1 AND domain = ANY($2)",
                &[&id, &who.domains],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Deletes one of `who`'s messages and writes it to the audit trail, in
    /// one transaction; returns its domain, or `None` when there is no such
    /// message for `who`.
    pub async fn delete(&self, who: &Principal, id: i64) -> Result<Option<String>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "DELETE FROM messages WHERE id = $1 AND domain = ANY($2)
                 RETURNING domain, mailsift_id",
                &[&id, &who.domains],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (domain, mailsift_id): (String, String) = (row.get(0), row.get(1));
        audit(&tx, who, "delete", id, &mailsift_id, &domain, "").await?;
        tx.commit().await?;
        Ok(Some(domain))
    }

    /// The original bytes of one of `who`'s messages for download, written
    /// to the audit trail first (no download goes unrecorded). `None`: not
    /// `who`'s, or a journal-mode verdict without a message.
    pub async fn download(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT domain, mailsift_id, raw FROM messages
                 WHERE id = $1 AND domain = ANY($2) AND raw IS NOT NULL",
                &[&id, &who.domains],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (domain, mailsift_id): (String, String) = (row.get(0), row.get(1));
        audit(&tx, who, "download", id, &mailsift_id, &domain, "").await?;
        tx.commit().await?;
        Ok(Some((domain, row.get(2))))
    }

    /// Releases one of `who`'s messages exactly once: the row is locked,
    /// `publish` runs only if it was not released yet (and must have the
    /// broker's confirm when it returns `Ok`), then the row is marked. Two
    /// concurrent releases of one message publish once.
    pub async fn release<F, Fut, E>(
        &self,
        who: &Principal,
        id: i64,
        publish: F,
    ) -> Result<Release<E>, StoreError>
    where
        F: FnOnce(Releasable) -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let sql = format!(
            "SELECT mailsift_id, domain, region, disposition, verdict, raw,
                 released IS NOT NULL, to_char(now() AT TIME ZONE 'UTC', {RFC3339})
             FROM messages WHERE id = $1 AND domain = ANY($2) FOR UPDATE"
        );
        let Some(row) = tx.query_opt(&sql, &[&id, &who.domains]).await? else {
            return Ok(Release::NotFound);
        };
        let (mailsift_id, domain): (String, String) = (row.get(0), row.get(1));
        let outcome = if row.get::<_, bool>(6) {
            audit(
                &tx,
                who,
                "release",
                id,
                &mailsift_id,
                &domain,
                "already released: nothing published",
            )
            .await?;
            Release::AlreadyReleased { domain }
        } else if let Some(raw) = row.get::<_, Option<Vec<u8>>>(5) {
            let item = Releasable {
                id,
                mailsift_id: mailsift_id.clone(),
                domain: domain.clone(),
                region: row.get(2),
                disposition: row.get(3),
                verdict: row.get(4),
                raw,
                by: who.name.clone(),
                at: row.get(7),
            };
            if let Err(e) = publish(item).await {
                return Ok(Release::PublishFailed(e));
            }
            tx.execute(
                "UPDATE messages SET released = now(), released_by = $2 WHERE id = $1",
                &[&id, &who.name],
            )
            .await?;
            audit(
                &tx,
                who,
                "release",
                id,
                &mailsift_id,
                &domain,
                "published to delivery",
            )
            .await?;
            Release::Released { domain }
        } else {
            audit(
                &tx,
                who,
                "release",
                id,
                &mailsift_id,
                &domain,
                "journal-mode verdict: nothing to release",
            )
            .await?;
            Release::NoBody { domain }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// The audit trail for `who`'s domains, newest first.
    pub async fn audit_trail(&self, who: &Principal, limit: i64) -> Result<Vec<Value>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT json_build_object('at', to_char(at AT TIME ZONE 'UTC', {RFC3339}),
                 'actor', actor, 'action', action, 'message', message,
                 'mailsift_id', mailsift_id, 'domain', domain, 'detail', detail)
             FROM audit WHERE domain = ANY($1) ORDER BY at DESC, id DESC LIMIT $2"
        );
        let rows = client
            .query(&sql, &[&who.domains, &limit.clamp(1, MAX_LIMIT)])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Adds a token (its hash) for `domains`; returns its id.
    pub async fn add_token(
        &self,
        name: &str,
        hash: &str,
        domains: &[String],
    ) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "INSERT INTO tokens (name, hash, domains) VALUES ($1, $2, $3) RETURNING id",
                &[&name, &hash, &domains],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT id, name, domains, to_char(created AT TIME ZONE 'UTC', {RFC3339}),
                 to_char(revoked AT TIME ZONE 'UTC', {RFC3339}),
                 to_char(last_used AT TIME ZONE 'UTC', {RFC3339})
             FROM tokens ORDER BY id DESC"
        );
        let rows = client.query(&sql, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: r.get(0),
                name: r.get(1),
                domains: r.get(2),
                created: r.get(3),
                revoked: r.get(4),
                last_used: r.get(5),
            })
            .collect())
    }

    /// Revokes a token by id; false when there is no such live token.
    pub async fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "UPDATE tokens SET revoked = now() WHERE id = $1 AND revoked IS NULL",
                &[&id],
            )
            .await?;
        Ok(n == 1)
    }

    /// The live token with this hash, if any. Its last use is noted at
    /// most once a minute, so parallel requests with one token do not queue
    /// on its row.
    pub async fn principal(&self, hash: &str) -> Result<Option<Principal>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT id, name, domains,
                     last_used IS NULL OR last_used < now() - interval '1 minute'
                 FROM tokens WHERE hash = $1 AND revoked IS NULL",
                &[&hash],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let who = Principal {
            token_id: row.get(0),
            name: row.get(1),
            domains: row.get(2),
        };
        if row.get::<_, bool>(3) {
            client
                .execute(
                    "UPDATE tokens SET last_used = now() WHERE id = $1",
                    &[&who.token_id],
                )
                .await?;
        }
        Ok(Some(who))
    }

    /// Deletes up to `batch` messages past their retention deadline; returns
    /// how many. Rows another transaction holds are skipped, not waited for.
    pub async fn purge_expired(&self, batch: i64) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "DELETE FROM messages WHERE id IN (
                     SELECT id FROM messages WHERE expires < now()
                     ORDER BY expires LIMIT $1 FOR UPDATE SKIP LOCKED)",
                &[&batch.max(1)],
            )
            .await?;
        Ok(n)
    }

    /// Runs `sql` as is (benchmarks seed rows with it; tests inspect).
    pub async fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.batch_execute(sql).await?;
        Ok(())
    }

    /// The first column of the first row of `sql` as an integer.
    pub async fn count(&self, sql: &str) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        Ok(client.query_one(sql, &[]).await?.get(0))
    }
}

/// A message about to be released, for the publish step.
#[derive(Clone, Debug)]
pub struct Releasable {
    /// The console's id.
    pub id: i64,
    /// The worker's stable id.
    pub mailsift_id: String,
    /// Policy domain.
    pub domain: String,
    /// Delivery region.
    pub region: String,
    /// The disposition it was held with.
    pub disposition: String,
    /// The stored verdict (its envelope is where it goes).
    pub verdict: Value,
    /// The original message.
    pub raw: Vec<u8>,
    /// Who releases it.
    pub by: String,
    /// When (the database's clock, RFC 3339).
    pub at: String,
}

/// What a release did.
#[derive(Debug)]
pub enum Release<E> {
    /// Published and marked.
    Released {
        /// Its domain (for the audit trail).
        domain: String,
    },
    /// It was released before: nothing published.
    AlreadyReleased {
        /// Its domain.
        domain: String,
    },
    /// A journal-mode verdict: there is nothing to release.
    NoBody {
        /// Its domain.
        domain: String,
    },
    /// Not one of the caller's messages.
    NotFound,
    /// The broker did not confirm; nothing was marked.
    PublishFailed(E),
}

/// Writes one line of the audit trail, in the caller's transaction.
async fn audit(
    tx: &tokio_postgres::Transaction<'_>,
    who: &Principal,
    action: &str,
    message: i64,
    mailsift_id: &str,
    domain: &str,
    detail: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit (token_id, actor, action, message, mailsift_id, domain, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &who.token_id,
            &who.name,
            &action,
            &message,
            &mailsift_id,
            &domain,
            &detail,
        ],
    )
    .await?;
    Ok(())
}

const SUMMARY: &str = r#"id, domain, disposition, score, header_from, rcpt_to, subject,
    to_char(received AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    to_char(released AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"#;

fn summary(r: &tokio_postgres::Row) -> Summary {
    Summary {
        id: r.get(0),
        domain: r.get(1),
        disposition: r.get(2),
        score: r.get(3),
        from: r.get(4),
        to: r.get(5),
        subject: r.get(6),
        received: r.get(7),
        released: r.get(8),
    }
}

/// The WHERE clause for a filter, always limited to the caller's domains.
fn where_clause(who: &Principal, f: &Filter) -> Result<(String, Params), StoreError> {
    let mut clauses = Vec::new();
    let mut params: Params = Vec::new();
    let mut add = |sql: &str, p: Box<dyn ToSql + Sync + Send>, clauses: &mut Vec<String>| {
        params.push(p);
        clauses.push(sql.replace('?', &format!("${}", params.len())));
    };
    match nonempty(&f.domain) {
        Some(d) => {
            let d = d.to_ascii_lowercase();
            if !who.domains.contains(&d) {
                return Err(StoreError::OutOfScope(format!(
                    "domain `{d}` is not one this token may see"
                )));
            }
            add("domain = ?", Box::new(d), &mut clauses);
        }
        // One domain as `=`: the planner can then walk the (domain, ...,
        // received) indexes in order and stop after a page.
        None => match who.domains.as_slice() {
            [one] => add("domain = ?", Box::new(one.clone()), &mut clauses),
            many => add("domain = ANY(?)", Box::new(many.to_vec()), &mut clauses),
        },
    }
    if let Some(d) = nonempty(&f.disposition) {
        let d = d.to_ascii_uppercase();
        if mailsift_core::Disposition::parse(&d).is_none() {
            return Err(StoreError::BadFilter(format!(
                "disposition `{d}` is not one of MALICIOUS, SPOOF, SPAM, SUSPICIOUS, BULK, NONE"
            )));
        }
        add("disposition = ?", Box::new(d), &mut clauses);
    }
    if let Some(s) = nonempty(&f.from) {
        add(
            "(header_from || ' ' || mail_from) ILIKE ?",
            Box::new(like(s)),
            &mut clauses,
        );
    }
    if let Some(s) = nonempty(&f.to) {
        add("rcpt_to ILIKE ?", Box::new(like(s)), &mut clauses);
    }
    if let Some(s) = nonempty(&f.subject) {
        add("subject ILIKE ?", Box::new(like(s)), &mut clauses);
    }
    if let Some(s) = nonempty(&f.since) {
        add(
            "received >= ?::text::timestamptz",
            Box::new(time(s, "since")?),
            &mut clauses,
        );
    }
    if let Some(s) = nonempty(&f.until) {
        add(
            "received < ?::text::timestamptz",
            Box::new(time(s, "until")?),
            &mut clauses,
        );
    }
    Ok((clauses.join(" AND "), params))
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A date PostgreSQL could not read (30 February) is the caller's mistake.
fn bad_time(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::DATETIME_FIELD_OVERFLOW
                || *c == SqlState::INVALID_DATETIME_FORMAT =>
        {
            StoreError::BadFilter(
                "since/until is not a valid date: use 2026-12-07 or 2026-12-07T10:00:00Z".into(),
            )
        }
        _ => StoreError::Db(e),
    }
}

/// `%s%` with LIKE's wildcards in `s` taken literally.
fn like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars().take(200) {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A time filter: `2026-12-07` (midnight UTC), `2026-12-07T10:00:00Z` or
/// with an offset (`+01:00`). Checked here so a typo is a clear 400, not a
/// database error; a bare date or time without a zone is UTC, whatever the
/// database session's time zone.
fn time(s: &str, name: &str) -> Result<String, StoreError> {
    let bad = || {
        StoreError::BadFilter(format!(
            "{name} `{}` is not a date: use 2026-12-07 or 2026-12-07T10:00:00Z",
            s.chars().take(40).collect::<String>()
        ))
    };
    let num = |t: &str, lo: u32, hi: u32| -> Result<u32, StoreError> {
        match t.parse::<u32>() {
            Ok(n)
                if t.len() >= 2
                    && t.bytes().all(|b| b.is_ascii_digit())
                    && (lo..=hi).contains(&n) =>
            {
                Ok(n)
            }
            _ => Err(bad()),
        }
    };
    if !s.is_ascii() || s.len() > 40 {
        return Err(bad());
    }
    let (date, rest) = s.split_at(s.len().min(10));
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(day), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    if y.len() != 4 {
        return Err(bad());
    }
    num(y, 1970, 9999)?;
    num(m, 1, 12)?;
    num(day, 1, 31)?;
    if rest.is_empty() {
        return Ok(format!("{date}T00:00:00Z"));
    }
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
    // hh:mm[:ss[.fff]] then Z, +hh:mm, -hh:mm or nothing (UTC).
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let mut c = clock.split(':');
    let (Some(h), Some(mi)) = (c.next(), c.next()) else {
        return Err(bad());
    };
    num(h, 0, 23)?;
    num(mi, 0, 59)?;
    if let Some(sec) = c.next() {
        let whole = sec.split('.').next().unwrap_or("");
        num(whole, 0, 60)?;
        if sec.len() > whole.len() && !sec[whole.len() + 1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
    }
    if c.next().is_some() {
        return Err(bad());
    }
    let zone = match zone {
        "" | "Z" | "z" => "Z".to_string(),
        z => {
            let (hh, mm) = z[1..].split_once(':').ok_or_else(bad)?;
            num(hh, 0, 14)?;
            num(mm, 0, 59)?;
            z.to_string()
        }
    };
    Ok(format!("{date}T{clock}{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Principal {
        Principal {
            token_id: 1,
            name: "ann".into(),
            domains: vec!["contoso.com".into()],
        }
    }

    #[test]
    fn like_patterns_take_wildcards_literally() {
        for (input, pattern) in [
            ("invoice", "%invoice%"),
            ("100%", "%100\\%%"),
            ("a_b", "%a\\_b%"),
            ("c:\\x", "%c:\\\\x%"),
        ] {
            assert_eq!(like(input), pattern, "{input}");
        }
    }

    #[test]
    fn time_filters_accept_dates_and_refuse_anything_else() {
        for good in [
            "2026-12-07",
            "2026-12-07T10:00:00Z",
            "2026-12-07 10:00:00+01:00",
        ] {
            assert!(time(good, "since").is_ok(), "{good}");
        }
        for bad in ["yesterday", "07/12/2026", "2026-12-07'; DROP TABLE", ""] {
            assert!(time(bad, "since").is_err(), "{bad}");
        }
    }

    #[test]
    fn every_filter_is_limited_to_the_tokens_domains() {
        let (sql, params) = where_clause(&admin(), &Filter::default()).expect("clause");
        assert_eq!(sql, "domain = $1");
        assert_eq!(params.len(), 1);
        let two = Principal {
            domains: vec!["contoso.com".into(), "fabrikam.com".into()],
            ..admin()
        };
        let (sql, _) = where_clause(&two, &Filter::default()).expect("clause");
        assert_eq!(sql, "domain = ANY($1)");
        let f = Filter {
            domain: Some("fabrikam.com".into()),
            ..Filter::default()
        };
        assert!(where_clause(&admin(), &f).is_err());
        let f = Filter {
            domain: Some("Contoso.com".into()),
            disposition: Some("spam".into()),
            subject: Some("invoice".into()),
            ..Filter::default()
        };
        let (sql, params) = where_clause(&admin(), &f).expect("clause");
        assert_eq!(sql, "domain = $1 AND disposition = $2 AND subject ILIKE $3");
        assert_eq!(params.len(), 3);
        let f = Filter {
            disposition: Some("HAM".into()),
            ..Filter::default()
        };
        assert!(where_clause(&admin(), &f).is_err());
    }
}
