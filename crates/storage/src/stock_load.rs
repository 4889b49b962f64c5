//! Opening stock in bulk: a batch of receipts onto (location, SKU) pairs that hold nothing
//! yet, as a large network's first load. The ledger decides every receipt as it decides any
//! ([`decide_together`]: references checked, each balance derived from its entry); the
//! batch is written set-based — `COPY` on PostgreSQL, multi-row inserts on SQLite — with one
//! `stock.loaded` event instead of a `stock.received` per position, in one transaction that
//! holds the write turn. Twenty million positions are then minutes, not hours, and the
//! outbox does not grow by twenty million events.

use std::fmt::Write as _;

use sqlx::{Connection, PgConnection};
use tongjia_domain::DomainError;
use tongjia_domain::codes::LocationCode;
use tongjia_domain::events::{EventType, StockLoaded};
use tongjia_domain::ledger::StockCommand;
use uuid::Uuid;

use crate::backend::Backend;
use crate::error::{StoreError, StoreResult};
use crate::stock::{ENTRY_COLUMNS, POSITION_COLUMNS, Together, decide_together, entry_rows};
use crate::{Db, us};

/// Bytes of CSV sent to `COPY` at a time.
const COPY_CHUNK: usize = 1 << 20;

impl Db {
    /// Loads `cmds` — receipts only, each onto a (location, SKU) pair without any position
    /// yet — as one transaction: every receipt's entry and balance, and one `stock.loaded`
    /// event naming the batch's locations. Refused whole (nothing written) if a command is
    /// not a receipt, a reference is unknown or closed, or a pair already holds stock (use
    /// the stock import for those). Bounded by the caller's batch: a large load is many calls.
    pub async fn load_stock(&self, cmds: &[StockCommand]) -> StoreResult<StockLoaded> {
        if let Some(i) = cmds.iter().position(|c| !matches!(c, StockCommand::Receive { .. })) {
            return Err(
                DomainError::invalid("commands", "not_a_receipt", format!("command {i} is not a receipt: a load only receives")).into()
            );
        }
        match self.backend {
            Backend::Sqlite => self.load_by_inserts(cmds).await,
            Backend::Postgres => self.load_by_copy(cmds).await,
        }
    }

    async fn load_by_inserts(&self, cmds: &[StockCommand]) -> StoreResult<StockLoaded> {
        let mut tx = self.begin::<()>(None, crate::stored(self.now())).await?;
        let now = tx.now;
        let together = decided(tx.conn(), cmds, now).await?;
        together.write(tx.conn(), now).await?;
        let loaded = summary(&together);
        tx.emit(EventType::StockLoaded, "stock", &loaded).await?;
        tx.commit(()).await?;
        Ok(loaded)
    }

    /// On a connection of its own (`COPY` is PostgreSQL's alone), holding the write turn
    /// for its whole transaction, so the balances read on the read pool stay those it writes
    /// over: no other write commits meanwhile, on this server or any other.
    async fn load_by_copy(&self, cmds: &[StockCommand]) -> StoreResult<StockLoaded> {
        let now = crate::stored(self.now());
        let mut conn = PgConnection::connect(&self.url).await?;
        let mut tx = conn.begin().await?;
        sqlx::query(crate::backend::postgres::WRITE_TURN).execute(&mut *tx).await?;
        let together = {
            let mut read = self.read.acquire().await?;
            decided(&mut read, cmds, now).await?
        };
        let mut entries = String::new();
        for (id, command, e) in entry_rows(&together.decisions) {
            let (reservation, transfer) = (e.reservation_id.map(|u| u.to_string()), e.transfer_id.map(|u| u.to_string()));
            let reference = e.reference.as_deref().map(csv_text);
            let _ = writeln!(
                entries,
                "{id},{command},{},{},{},{},{},{},{},{},{},{},{}",
                e.kind.as_str(),
                csv_text(e.key.location_code.as_str()),
                csv_text(e.key.sku_code.as_str()),
                csv_text(&e.key.owner.to_string()),
                e.on_hand_delta,
                e.reserved_delta,
                e.damaged_delta,
                reservation.unwrap_or_default(),
                transfer.unwrap_or_default(),
                reference.unwrap_or_default(),
                us(now)
            );
        }
        copy(&mut tx, &format!("COPY stock_entries ({ENTRY_COLUMNS}) FROM STDIN (FORMAT csv)"), &entries).await?;
        let mut positions = String::new();
        for (k, p) in together.finals() {
            let owner = csv_text(&k.owner.to_string());
            let (location, sku) = (csv_text(k.location_code.as_str()), csv_text(k.sku_code.as_str()));
            let _ = writeln!(positions, "{location},{sku},{owner},{},{},{},{}", p.on_hand, p.reserved, p.damaged, us(now));
        }
        copy(&mut tx, &format!("COPY stock_positions ({POSITION_COLUMNS}) FROM STDIN (FORMAT csv)"), &positions).await?;
        let loaded = summary(&together);
        let payload = serde_json::to_string(&loaded).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO outbox (id, event_type, subject, payload, occurred_at_us) VALUES ($1, $2, 'stock', $3, $4)")
            .bind(Uuid::now_v7().to_string())
            .bind(EventType::StockLoaded.as_str())
            .bind(payload)
            .bind(us(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        conn.close().await?;
        Ok(loaded)
    }
}

/// The ledger's decisions for a load, refused if any pair held a position before it.
async fn decided(conn: &mut sqlx::AnyConnection, cmds: &[StockCommand], now: jiff::Timestamp) -> StoreResult<Together> {
    let together = decide_together(conn, cmds, Default::default(), now).await?.map_err(|(_, e)| StoreError::from(e))?;
    if together.existing > 0 {
        return Err(DomainError::conflict(
            "stock_not_empty",
            format!(
                "{} positions of this batch's pairs already hold stock: load only onto new pairs (the stock import receives onto any)",
                together.existing
            ),
        )
        .into());
    }
    Ok(together)
}

fn summary(together: &Together) -> StockLoaded {
    let finals = together.finals();
    let locations: std::collections::BTreeSet<&LocationCode> = finals.iter().map(|(k, _)| &k.location_code).collect();
    StockLoaded {
        locations: locations.into_iter().cloned().collect(),
        positions: finals.len(),
        units: finals.iter().map(|(_, p)| p.on_hand).sum(),
    }
}

/// A text field for CSV: quoted, with quotes doubled (an empty unquoted field is NULL).
fn csv_text(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Sends `csv` to `COPY … FROM STDIN` a megabyte at a time.
async fn copy(conn: &mut PgConnection, statement: &str, csv: &str) -> StoreResult<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let bytes = csv.as_bytes();
    for chunk in bytes.chunks(COPY_CHUNK) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    Ok(())
}
