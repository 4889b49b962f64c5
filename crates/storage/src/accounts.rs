//! Accounts, sessions, API tokens and failed sign-ins. Secrets are never stored: passwords
//! as their argon2id hash (made by the server), sessions and tokens as the SHA-256 of their
//! secret, so a copy of the database lets no one sign in.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tongjia_domain::DomainError;
use tongjia_domain::access::{Binding, CodeRefusal, Role, SentCode, TokenScope};
use tongjia_domain::codes::{LocationCode, PartnerCode};

use crate::audit::AuditEntry;
use crate::error::{StoreResult, parse};
use crate::page::{Page, PageRequest};
use crate::tx::Idem;
use crate::{Db, flag, ts, us};
use uuid::Uuid;

/// A staff account (the password hash is for the server to verify, never to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub username: String,
    pub binding: Binding,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Changes to an account; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub binding: Option<Binding>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
}

/// A signed-in session: whose (`account:<username>` or `member:<mobile>`) and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub principal: String,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

/// An API token (its secret is shown once, when made, and kept only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub username: String,
    pub name: String,
    pub scope: TokenScope,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

async fn account_by_name(conn: &mut AnyConnection, username: &str) -> StoreResult<Option<AccountRecord>> {
    // The account and its stores in one query (every authenticated request asks this).
    let rows = sqlx::query(
        "SELECT a.username, a.role, a.partner_code, a.password_hash, CAST(a.disabled AS INTEGER) AS disabled, a.created_at_us, \
         a.updated_at_us, s.store_code FROM accounts a LEFT JOIN account_stores s ON s.username = a.username WHERE a.username = $1 \
         ORDER BY s.store_code",
    )
    .bind(username)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let stores = rows.iter().filter_map(|r| r.try_get::<Option<String>, _>("store_code").transpose()).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(account_from_row(first, stores)?))
}

fn account_from_row(r: &AnyRow, stores: Vec<String>) -> StoreResult<AccountRecord> {
    let role = parse(Role::parse(r.try_get("role")?))?;
    let stores = stores.iter().map(|s| parse(LocationCode::parse(s))).collect::<StoreResult<Vec<_>>>()?;
    let partner = r.try_get::<Option<String>, _>("partner_code")?.map(|p| parse(PartnerCode::parse(&p))).transpose()?;
    Ok(AccountRecord {
        username: r.try_get("username")?,
        binding: parse(Binding::new(role, stores, partner))?,
        password_hash: r.try_get("password_hash")?,
        disabled: flag(r, "disabled")?,
        created_at: ts(r.try_get("created_at_us")?)?,
        updated_at: ts(r.try_get("updated_at_us")?)?,
    })
}

/// Refuses a binding to stores that are not stores, or to a partner that is not known.
async fn check_binding(conn: &mut AnyConnection, binding: &Binding) -> StoreResult<()> {
    for store in binding.stores() {
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM locations WHERE code = $1").bind(store.as_str()).fetch_optional(&mut *conn).await?;
        if kind.is_none_or(|k| k == "warehouse") {
            return Err(DomainError::not_found("store_not_found", format!("no store {store}")).at("stores").into());
        }
    }
    if let Some(partner) = binding.partner() {
        let known: Option<String> =
            sqlx::query_scalar("SELECT code FROM partners WHERE code = $1").bind(partner.as_str()).fetch_optional(&mut *conn).await?;
        if known.is_none() {
            return Err(DomainError::not_found("partner_not_found", format!("no partner {partner}")).at("partner_code").into());
        }
    }
    Ok(())
}

async fn put_binding(conn: &mut AnyConnection, username: &str, binding: &Binding) -> StoreResult<()> {
    sqlx::query("DELETE FROM account_stores WHERE username = $1").bind(username).execute(&mut *conn).await?;
    for store in binding.stores() {
        sqlx::query("INSERT INTO account_stores (username, store_code) VALUES ($1, $2)")
            .bind(username)
            .bind(store.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn token_from_row(r: &AnyRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        name: r.try_get("name")?,
        scope: parse(TokenScope::parse(r.try_get("scope")?))?,
        created_by: r.try_get("created_by")?,
        created_at: ts(r.try_get("created_at_us")?)?,
        expires_at: ts(r.try_get("expires_at_us")?)?,
        revoked_at: r.try_get::<Option<i64>, _>("revoked_at_us")?.map(ts).transpose()?,
    })
}

const TOKEN_COLUMNS: &str = "id, username, name, scope, created_by, created_at_us, expires_at_us, revoked_at_us";

impl Db {
    /// Creates an account; its username must be new, its stores stores, its partner known.
    pub async fn create_account(
        &self,
        username: &str,
        binding: Binding,
        password_hash: String,
        idem: Option<&Idem<'_, AccountRecord>>,
    ) -> StoreResult<AccountRecord> {
        tongjia_domain::access::check_username(username)?;
        let mut tx = self.begin(idem, self.now()).await?;
        if account_by_name(tx.conn(), username).await?.is_some() {
            return Err(DomainError::conflict("account_exists", format!("account {username} already exists")).at("username").into());
        }
        check_binding(tx.conn(), &binding).await?;
        let now = us(tx.now);
        sqlx::query(
            "INSERT INTO accounts (username, role, partner_code, password_hash, disabled, created_at_us, updated_at_us) \
             VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(username)
        .bind(binding.role().as_str())
        .bind(binding.partner().map(|p| p.to_string()))
        .bind(&password_hash)
        .bind(now)
        .execute(tx.conn())
        .await?;
        put_binding(tx.conn(), username, &binding).await?;
        let record = account_by_name(tx.conn(), username).await?.expect("just written");
        tx.commit(record).await
    }

    /// Changes an account. Disabling it or changing its password ends its sessions.
    pub async fn update_account(
        &self,
        username: &str,
        patch: AccountPatch,
        idem: Option<&Idem<'_, AccountRecord>>,
    ) -> StoreResult<AccountRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        let Some(current) = account_by_name(tx.conn(), username).await? else {
            return Err(DomainError::not_found("account_not_found", format!("no account {username}")).into());
        };
        let was = current.binding.role() == Role::HqAdmin && !current.disabled;
        let binding = patch.binding.unwrap_or(current.binding);
        check_binding(tx.conn(), &binding).await?;
        let stays = binding.role() == Role::HqAdmin && !patch.disabled.unwrap_or(current.disabled);
        if was && !stays {
            let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE role = $1 AND disabled = 0 AND username <> $2")
                .bind(Role::HqAdmin.as_str())
                .bind(username)
                .fetch_one(tx.conn())
                .await?;
            tongjia_domain::access::check_admins_remain(was, stays, others)?;
        }
        let ends_sessions = patch.password_hash.is_some() || patch.disabled == Some(true);
        sqlx::query(
            "UPDATE accounts SET role = $1, partner_code = $2, password_hash = $3, disabled = $4, updated_at_us = $5 WHERE username = $6",
        )
        .bind(binding.role().as_str())
        .bind(binding.partner().map(|p| p.to_string()))
        .bind(patch.password_hash.unwrap_or(current.password_hash))
        .bind(i64::from(patch.disabled.unwrap_or(current.disabled)))
        .bind(us(tx.now))
        .bind(username)
        .execute(tx.conn())
        .await?;
        put_binding(tx.conn(), username, &binding).await?;
        if ends_sessions {
            sqlx::query("DELETE FROM sessions WHERE principal = $1").bind(format!("account:{username}")).execute(tx.conn()).await?;
        }
        if patch.disabled == Some(true) {
            // Enabling the account again must not bring its old tokens back.
            sqlx::query("UPDATE api_tokens SET revoked_at_us = $1 WHERE username = $2 AND revoked_at_us IS NULL")
                .bind(us(tx.now))
                .bind(username)
                .execute(tx.conn())
                .await?;
        }
        let record = account_by_name(tx.conn(), username).await?.expect("just written");
        tx.commit(record).await
    }

    /// One account.
    pub async fn account(&self, username: &str) -> StoreResult<Option<AccountRecord>> {
        let mut conn = self.read.acquire().await?;
        account_by_name(&mut conn, username).await
    }

    /// The usernames of the enabled accounts that work at `store`.
    pub async fn staff_of(&self, store: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT a.username FROM account_stores s JOIN accounts a ON a.username = s.username \
             WHERE s.store_code = $1 AND a.disabled = 0 ORDER BY a.username LIMIT 200",
        )
        .bind(store)
        .fetch_all(&self.read)
        .await?)
    }

    /// Accounts by username, a page at a time.
    pub async fn accounts(&self, page: &PageRequest) -> StoreResult<Page<AccountRecord>> {
        let limit = page.limit()?;
        let mut conn = self.read.acquire().await?;
        let names: Vec<String> = sqlx::query_scalar("SELECT username FROM accounts WHERE username > $1 ORDER BY username LIMIT $2")
            .bind(page.after_key()?)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *conn)
            .await?;
        let mut items = Vec::with_capacity(names.len());
        for name in names {
            items.extend(account_by_name(&mut conn, &name).await?);
        }
        Ok(Page::from_rows(items, limit, |a| a.username.clone()))
    }

    /// Starts a session for `principal` until `expires_at`; `secret_hash` is the SHA-256 of
    /// the cookie's secret.
    pub async fn start_session(
        &self,
        secret_hash: &str,
        principal: &str,
        csrf_token: &str,
        expires_at: Timestamp,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<()> {
        let mut tx = self.begin::<()>(None, self.now()).await?;
        tx.record(audit, 201, &serde_json::json!({ "session_of": principal, "expires_at": expires_at }).to_string()).await?;
        sqlx::query("INSERT INTO sessions (secret_hash, principal, csrf_token, created_at_us, expires_at_us) VALUES ($1, $2, $3, $4, $5)")
            .bind(secret_hash)
            .bind(principal)
            .bind(csrf_token)
            .bind(us(tx.now))
            .bind(us(expires_at))
            .execute(tx.conn())
            .await?;
        tx.commit(()).await
    }

    /// The session whose secret hashes to `secret_hash`, unless it has expired.
    pub async fn session(&self, secret_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT principal, csrf_token, expires_at_us FROM sessions WHERE secret_hash = $1 AND expires_at_us > $2")
                .bind(secret_hash)
                .bind(us(self.now()))
                .fetch_optional(&self.read)
                .await?;
        row.map(|(principal, csrf_token, at)| Ok(SessionRecord { principal, csrf_token, expires_at: ts(at)? })).transpose()
    }

    /// Ends a session (signing out).
    pub async fn end_session(&self, secret_hash: &str, audit: Option<&AuditEntry>) -> StoreResult<()> {
        let mut tx = self.begin::<()>(None, self.now()).await?;
        tx.record(audit, 204, "").await?;
        sqlx::query("DELETE FROM sessions WHERE secret_hash = $1").bind(secret_hash).execute(tx.conn()).await?;
        tx.commit(()).await
    }

    /// Makes an API token for `username`; `secret_hash` is the SHA-256 of its secret.
    pub async fn create_token(&self, record: &TokenRecord, secret_hash: &str, audit: Option<&AuditEntry>) -> StoreResult<TokenRecord> {
        let mut tx = self.begin::<()>(None, self.now()).await?;
        if account_by_name(tx.conn(), &record.username).await?.is_none() {
            return Err(DomainError::not_found("account_not_found", format!("no account {}", record.username)).at("username").into());
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_tokens ({TOKEN_COLUMNS}, secret_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)"
        )))
        .bind(&record.id)
        .bind(&record.username)
        .bind(&record.name)
        .bind(record.scope.as_str())
        .bind(&record.created_by)
        .bind(us(tx.now))
        .bind(us(record.expires_at))
        .bind(secret_hash)
        .execute(tx.conn())
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1")))
            .bind(&record.id)
            .fetch_one(tx.conn())
            .await?;
        let made = token_from_row(&row)?;
        let shown = serde_json::json!({ "token_id": made.id, "username": made.username, "name": made.name, "scope": made.scope.as_str(), "expires_at": made.expires_at });
        tx.record(audit, 201, &shown.to_string()).await?;
        tx.commit(()).await?;
        Ok(made)
    }

    /// The live token (not expired, not revoked) whose secret hashes to `secret_hash`.
    pub async fn live_token(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE secret_hash = $1 AND revoked_at_us IS NULL AND expires_at_us > $2"
        )))
        .bind(secret_hash)
        .bind(us(self.now()))
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// One token by id.
    pub async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Tokens, newest first, of one account or of all.
    pub async fn tokens(&self, username: Option<&str>, page: &PageRequest) -> StoreResult<Page<TokenRecord>> {
        let limit = page.limit()?;
        let after = page.after_key()?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ($1 = '' OR username = $1) AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
        )))
        .bind(username.unwrap_or(""))
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(token_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |t| t.id.clone()))
    }

    /// Revokes a token (at once, on every server); revoking it again changes nothing.
    pub async fn revoke_token(&self, id: &str, audit: Option<&AuditEntry>) -> StoreResult<TokenRecord> {
        let mut tx = self.begin::<()>(None, self.now()).await?;
        sqlx::query("UPDATE api_tokens SET revoked_at_us = $1 WHERE id = $2 AND revoked_at_us IS NULL")
            .bind(us(tx.now))
            .bind(id)
            .execute(tx.conn())
            .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1")))
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(row) = row else {
            return Err(DomainError::not_found("token_not_found", format!("no token {id}")).into());
        };
        let record = token_from_row(&row)?;
        tx.record(audit, 200, &serde_json::json!({ "token_id": record.id, "revoked_at": record.revoked_at }).to_string()).await?;
        tx.commit(()).await?;
        Ok(record)
    }

    /// Claims a sign-in attempt of `username` from `address`: in one write turn, counts their
    /// failures since `since`, lets `allowed` (the domain's rule) decide, and if it allows,
    /// counts this attempt as a failure until [`Db::sign_in_succeeded`] takes it back. Attempts
    /// made at once are each counted before the next is decided, so none slips past the limit.
    pub async fn claim_sign_in(
        &self,
        username: &str,
        address: &str,
        since: Timestamp,
        allowed: impl FnOnce(i64, i64) -> Result<(), i64>,
    ) -> StoreResult<Result<Uuid, i64>> {
        let mut tx = self.begin::<Result<Uuid, i64>>(None, self.now()).await?;
        let by_account = failures(tx.conn(), "username", username, since).await?;
        let by_address = failures(tx.conn(), "address", address, since).await?;
        if let Err(wait) = allowed(by_account, by_address) {
            return tx.commit(Err(wait)).await;
        }
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO sign_in_failures (id, username, address, at_us) VALUES ($1, $2, $3, $4)")
            .bind(id.to_string())
            .bind(username)
            .bind(address)
            .bind(us(tx.now))
            .execute(tx.conn())
            .await?;
        tx.commit(Ok(id)).await
    }

    /// Takes back the attempt `claim` counted: the password was right.
    pub async fn sign_in_succeeded(&self, claim: Uuid) -> StoreResult<()> {
        let mut tx = self.begin::<()>(None, self.now()).await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE id = $1").bind(claim.to_string()).execute(tx.conn()).await?;
        tx.commit(()).await
    }
}

/// Failed sign-ins whose `column` (`username` or `address`) is `value`, since `since`.
async fn failures(conn: &mut AnyConnection, column: &str, value: &str, since: Timestamp) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM sign_in_failures WHERE {column} = $1 AND at_us > $2")))
        .bind(value)
        .bind(us(since))
        .fetch_one(conn)
        .await?)
}

impl Db {
    /// The code last sent to `mobile` and its hash, if any is stored.
    pub async fn member_code(&self, mobile: &str) -> StoreResult<Option<(SentCode, String)>> {
        let row: Option<(i64, i64, i64, String)> =
            sqlx::query_as("SELECT sent_at_us, expires_at_us, tries, code_hash FROM member_codes WHERE mobile = $1")
                .bind(mobile)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|(sent_at_us, expires_at_us, tries, hash)| (SentCode { sent_at_us, expires_at_us, tries }, hash)))
    }

    /// Stores a new code for `mobile` (replacing any earlier one), good until `expires_at`.
    pub async fn store_member_code(&self, mobile: &str, code_hash: &str, expires_at: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin::<()>(None, self.now()).await?;
        sqlx::query(
            "INSERT INTO member_codes (mobile, code_hash, sent_at_us, expires_at_us, tries) VALUES ($1, $2, $3, $4, 0) \
             ON CONFLICT (mobile) DO UPDATE SET code_hash = $2, sent_at_us = $3, expires_at_us = $4, tries = 0",
        )
        .bind(mobile)
        .bind(code_hash)
        .bind(us(tx.now))
        .bind(us(expires_at))
        .execute(tx.conn())
        .await?;
        tx.commit(()).await
    }

    /// Checks a code given for `mobile` in one write turn: loads the code sent, lets `decide`
    /// (the domain's rule, told whether `matches` says the stored hash is the given code's)
    /// decide, and writes what it decided — a right code used up, a wrong one counted — so
    /// tries made at once are each counted before the next is decided.
    pub async fn try_member_code(
        &self,
        mobile: &str,
        matches: impl FnOnce(&str) -> bool,
        decide: impl FnOnce(Option<&SentCode>, bool) -> Result<(), CodeRefusal>,
    ) -> StoreResult<Result<(), CodeRefusal>> {
        let mut tx = self.begin::<Result<(), CodeRefusal>>(None, self.now()).await?;
        let row: Option<(i64, i64, i64, String)> =
            sqlx::query_as("SELECT sent_at_us, expires_at_us, tries, code_hash FROM member_codes WHERE mobile = $1")
                .bind(mobile)
                .fetch_optional(tx.conn())
                .await?;
        let sent = row.as_ref().map(|(sent_at_us, expires_at_us, tries, _)| SentCode {
            sent_at_us: *sent_at_us,
            expires_at_us: *expires_at_us,
            tries: *tries,
        });
        let right = row.as_ref().is_some_and(|(.., hash)| matches(hash));
        let decided = decide(sent.as_ref(), right);
        let change = match decided {
            Ok(()) => Some("DELETE FROM member_codes WHERE mobile = $1"),
            Err(CodeRefusal::Wrong) => Some("UPDATE member_codes SET tries = tries + 1 WHERE mobile = $1"),
            Err(CodeRefusal::NoLiveCode) => None,
        };
        if let Some(sql) = change {
            sqlx::query(sql).bind(mobile).execute(tx.conn()).await?;
        }
        tx.commit(decided).await
    }
}

impl Db {
    /// Claims one `kind` request from `key` (an address, an order): in one write turn, counts
    /// those since `since`, lets `allowed` decide on that count, and if it allows, counts this
    /// one too. Requests made at once are each counted before the next is decided, so none
    /// slips past a limit. The claim's id gives it back ([`Db::release_throttle`]).
    pub async fn claim_throttle(
        &self,
        kind: &str,
        key: &str,
        since: Timestamp,
        allowed: impl FnOnce(i64) -> bool,
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.begin::<Option<Uuid>>(None, self.now()).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle_events WHERE kind = $1 AND address = $2 AND at_us > $3")
            .bind(kind)
            .bind(key)
            .bind(us(since))
            .fetch_one(tx.conn())
            .await?;
        if !allowed(count) {
            return tx.commit(None).await;
        }
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO throttle_events (id, kind, address, at_us) VALUES ($1, $2, $3, $4)")
            .bind(id.to_string())
            .bind(kind)
            .bind(key)
            .bind(us(tx.now))
            .execute(tx.conn())
            .await?;
        tx.commit(Some(id)).await
    }

    /// How many `kind` requests from `key` were counted since `since`.
    pub async fn throttle_count(&self, kind: &str, key: &str, since: Timestamp) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM throttle_events WHERE kind = $1 AND address = $2 AND at_us > $3")
            .bind(kind)
            .bind(key)
            .bind(us(since))
            .fetch_one(&self.read)
            .await?)
    }

    /// Gives back a claim that came to nothing (a request refused, or answered from its key).
    pub async fn release_throttle(&self, claim: Uuid) -> StoreResult<()> {
        let mut tx = self.begin::<()>(None, self.now()).await?;
        sqlx::query("DELETE FROM throttle_events WHERE id = $1").bind(claim.to_string()).execute(tx.conn()).await?;
        tx.commit(()).await
    }
}
