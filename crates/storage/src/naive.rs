//! The path a user would write without Tongjia, for `tongjia bench` to run beside the
//! engine on the same database with the same clients: one table of available units per SKU
//! (and one of orders, for a checkout) and one transaction per request, `UPDATE … SET available = available - q WHERE
//! available >= q`, on the write pool itself (no group commit, no ledger, no events, no
//! idempotency).
//! Nothing else reads or writes its table; it is dropped with the scratch database.

use crate::Db;
use crate::error::StoreResult;

impl Db {
    /// Makes the naive tables (empty) and fills the stock table with `(sku, available)` rows.
    pub async fn naive_seed(&self, rows: &[(String, i64)]) -> StoreResult<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bench_naive_orders (id TEXT PRIMARY KEY, sku_code TEXT NOT NULL, quantity BIGINT NOT NULL, status TEXT NOT NULL)",
        )
        .execute(&self.write)
        .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS bench_naive_stock (sku_code TEXT PRIMARY KEY, available BIGINT NOT NULL)")
            .execute(&self.write)
            .await?;
        let mut conn = self.write.acquire().await?;
        for chunk in rows.chunks(500) {
            let sql =
                format!("INSERT INTO bench_naive_stock (sku_code, available) VALUES {}", crate::tx::placeholders(&conn, chunk.len(), 2));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (sku, n) in chunk {
                q = q.bind(sku.as_str()).bind(*n);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Takes `quantity` of `sku` if that many are available, in one transaction of its own:
    /// whether it did.
    pub async fn naive_reserve(&self, sku: &str, quantity: i64) -> StoreResult<bool> {
        let taken = sqlx::query("UPDATE bench_naive_stock SET available = available - $1 WHERE sku_code = $2 AND available >= $3")
            .bind(quantity)
            .bind(sku)
            .bind(quantity)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(taken == 1)
    }

    /// What is available of `sku` (a read, as a quote would be).
    pub async fn naive_available(&self, sku: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT available FROM bench_naive_stock WHERE sku_code = $1").bind(sku).fetch_one(&self.read).await?)
    }

    /// The naive order: in one transaction, takes `quantity` of `sku` if that many are
    /// available and records an order for it; the order's number, or None when sold out.
    pub async fn naive_place(&self, sku: &str, quantity: i64) -> StoreResult<Option<String>> {
        let mut tx = self.write.begin().await?;
        let taken = sqlx::query("UPDATE bench_naive_stock SET available = available - $1 WHERE sku_code = $2 AND available >= $3")
            .bind(quantity)
            .bind(sku)
            .bind(quantity)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken != 1 {
            return Ok(None);
        }
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO bench_naive_orders (id, sku_code, quantity, status) VALUES ($1, $2, $3, 'placed')")
            .bind(&id)
            .bind(sku)
            .bind(quantity)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Pays a naive order once (one transaction): whether it was unpaid.
    pub async fn naive_pay(&self, id: &str) -> StoreResult<bool> {
        let paid = sqlx::query("UPDATE bench_naive_orders SET status = 'paid' WHERE id = $1 AND status = 'placed'")
            .bind(id)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(paid == 1)
    }

    /// Naive orders paid.
    pub async fn naive_paid(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM bench_naive_orders WHERE status = 'paid'")
            .fetch_one(&self.read)
            .await?)
    }

    /// Units taken from the naive table in all (for the sold-against-stock check).
    pub async fn naive_left(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT CAST(COALESCE(SUM(available), 0) AS BIGINT) FROM bench_naive_stock").fetch_one(&self.read).await?)
    }
}
