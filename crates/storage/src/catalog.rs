//! Products and SKUs.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;
use tongjia_domain::catalog::{Gtin13, NAME_LEN_MAX, Product, Sku, check_attributes, check_text};
use tongjia_domain::codes::{ProductCode, SkuCode};
use tongjia_domain::pricing::PriceChange;
use tongjia_domain::{DomainError, Fen};

use crate::bulk::{Bulk, BulkRows, Refusals};
use crate::error::{StoreResult, parse};
use crate::page::{Page, PageRequest};
use crate::tx::{Idem, WriteTx};
use crate::{Db, flag, ts, us};
use tongjia_domain::events::EventType;

/// A SKU as stored, with its product's category and name.
#[derive(Debug, Clone, Serialize)]
pub struct SkuRecord {
    pub sku: Sku,
    pub product_name: String,
    pub category: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Changes to a SKU; `None` leaves a field as it is. The code and product never change.
#[derive(Debug, Clone, Default)]
pub struct SkuPatch {
    pub name: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub gtin: Option<Gtin13>,
    pub active: Option<bool>,
}

/// Filters for listing SKUs; all optional.
#[derive(Debug, Clone, Default)]
pub struct SkuFilter {
    pub product_code: Option<String>,
    pub category: Option<String>,
    pub active: Option<bool>,
    /// Case-insensitive substring of the SKU's name or code, or its exact barcode.
    pub q: Option<String>,
    /// The SKU with this barcode (GTIN-13), exactly: what a till's scanner sends.
    pub gtin: Option<String>,
}

/// The columns of a SKU with its product, as one literal for `concat!`.
macro_rules! sku_select {
    () => {
        "SELECT s.code, s.product_code, s.name, s.attributes, s.gtin, CAST(s.active AS INTEGER) AS active, s.created_at_us, s.updated_at_us, \
         p.name AS product_name, p.category FROM skus s JOIN products p ON p.code = s.product_code "
    };
}

fn sku_from_row(r: &AnyRow) -> StoreResult<SkuRecord> {
    let attributes: String = r.try_get("attributes")?;
    let attributes: BTreeMap<String, String> = serde_json::from_str(&attributes).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
    Ok(SkuRecord {
        sku: Sku {
            code: parse(SkuCode::parse(r.try_get("code")?))?,
            product_code: parse(ProductCode::parse(r.try_get("product_code")?))?,
            name: r.try_get("name")?,
            attributes,
            gtin: parse(Gtin13::parse(r.try_get("gtin")?))?,
            active: flag(r, "active")?,
        },
        product_name: r.try_get("product_name")?,
        category: r.try_get("category")?,
        created_at: ts(r.try_get("created_at_us")?)?,
        updated_at: ts(r.try_get("updated_at_us")?)?,
    })
}

async fn sku_by_code(conn: &mut AnyConnection, code: &str) -> StoreResult<Option<SkuRecord>> {
    let row = sqlx::query(concat!(sku_select!(), "WHERE s.code = $1")).bind(code).fetch_optional(conn).await?;
    row.as_ref().map(sku_from_row).transpose()
}

async fn check_gtin_free(conn: &mut AnyConnection, gtin: &Gtin13, except_sku: &str) -> StoreResult<()> {
    let holder: Option<String> = sqlx::query_scalar("SELECT code FROM skus WHERE gtin = $1 AND code <> $2")
        .bind(gtin.as_str())
        .bind(except_sku)
        .fetch_optional(conn)
        .await?;
    match holder {
        Some(other) => Err(DomainError::conflict("gtin_taken", format!("barcode {gtin} already belongs to SKU {other}")).at("gtin").into()),
        None => Ok(()),
    }
}

/// Inserts or replaces a product (used by create and by import).
async fn put_product(conn: &mut AnyConnection, p: &Product, now: Timestamp) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO products (code, name, category, created_at_us, updated_at_us) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, category = excluded.category, updated_at_us = excluded.updated_at_us",
    )
    .bind(p.code.as_str())
    .bind(&p.name)
    .bind(&p.category)
    .bind(us(now))
    .bind(us(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts or replaces a SKU (used by create, update and import).
async fn put_sku(conn: &mut AnyConnection, s: &Sku, now: Timestamp) -> StoreResult<()> {
    let attributes = serde_json::to_string(&s.attributes).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO skus (code, product_code, name, attributes, gtin, active, created_at_us, updated_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (code) DO UPDATE SET product_code = excluded.product_code, name = excluded.name, attributes = excluded.attributes, \
         gtin = excluded.gtin, active = excluded.active, updated_at_us = excluded.updated_at_us",
    )
    .bind(s.code.as_str())
    .bind(s.product_code.as_str())
    .bind(&s.name)
    .bind(attributes)
    .bind(s.gtin.as_str())
    .bind(s.active)
    .bind(us(now))
    .bind(us(now))
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    /// Creates a product; its code must be new.
    pub async fn create_product(&self, p: Product, idem: Option<&Idem<'_, Product>>) -> StoreResult<Product> {
        let mut tx = self.begin(idem, self.now()).await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT code FROM products WHERE code = $1").bind(p.code.as_str()).fetch_optional(tx.conn()).await?;
        if exists.is_some() {
            return Err(DomainError::conflict("product_exists", format!("product {} already exists", p.code)).at("product_code").into());
        }
        let now = tx.now;
        put_product(tx.conn(), &p, now).await?;
        tx.emit(EventType::ProductCreated, p.code.as_str(), &p).await?;
        tx.commit(p).await
    }

    pub async fn product(&self, code: &str) -> StoreResult<Option<Product>> {
        let row = sqlx::query("SELECT code, name, category FROM products WHERE code = $1").bind(code).fetch_optional(&self.read).await?;
        row.map(|r| product_from_row(&r)).transpose()
    }

    /// Products by code, one page at a time.
    pub async fn products(&self, category: Option<&str>, page: &PageRequest) -> StoreResult<Page<Product>> {
        let limit = page.limit()?;
        let rows = sqlx::query(
            "SELECT code, name, category FROM products WHERE code > $1 AND ($2 IS NULL OR category = $3) ORDER BY code LIMIT $4",
        )
        .bind(page.after_key()?)
        .bind(category)
        .bind(category)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(product_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |p| p.code.to_string()))
    }

    /// Creates a SKU of an existing product, with a barcode no other SKU has.
    pub async fn create_sku(&self, s: Sku, idem: Option<&Idem<'_, SkuRecord>>) -> StoreResult<SkuRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        if sku_by_code(tx.conn(), s.code.as_str()).await?.is_some() {
            return Err(DomainError::conflict("sku_exists", format!("SKU {} already exists", s.code)).at("sku_code").into());
        }
        let product: Option<String> =
            sqlx::query_scalar("SELECT code FROM products WHERE code = $1").bind(s.product_code.as_str()).fetch_optional(tx.conn()).await?;
        if product.is_none() {
            return Err(DomainError::rule("unknown_product", format!("no product {}", s.product_code)).at("product_code").into());
        }
        check_gtin_free(tx.conn(), &s.gtin, s.code.as_str()).await?;
        let now = tx.now;
        put_sku(tx.conn(), &s, now).await?;
        let record = sku_by_code(tx.conn(), s.code.as_str()).await?.ok_or_else(|| crate::StoreError::Corrupt("SKU vanished".into()))?;
        tx.emit(EventType::SkuCreated, s.code.as_str(), &record).await?;
        tx.commit(record).await
    }

    /// Applies a patch to a SKU.
    pub async fn update_sku(&self, code: &SkuCode, patch: SkuPatch, idem: Option<&Idem<'_, SkuRecord>>) -> StoreResult<SkuRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        let current = sku_by_code(tx.conn(), code.as_str()).await?.ok_or_else(|| unknown_sku(code.as_str()))?;
        let mut sku = current.sku;
        if let Some(name) = patch.name {
            sku.name = check_text("name", &name, NAME_LEN_MAX)?;
        }
        if let Some(attributes) = patch.attributes {
            sku.attributes = check_attributes(attributes)?;
        }
        if let Some(gtin) = patch.gtin {
            check_gtin_free(tx.conn(), &gtin, code.as_str()).await?;
            sku.gtin = gtin;
        }
        if let Some(active) = patch.active {
            sku.active = active;
        }
        let now = tx.now;
        put_sku(tx.conn(), &sku, now).await?;
        let record = sku_by_code(tx.conn(), code.as_str()).await?.ok_or_else(|| crate::StoreError::Corrupt("SKU vanished".into()))?;
        tx.emit(EventType::SkuUpdated, code.as_str(), &record).await?;
        tx.commit(record).await
    }

    pub async fn sku(&self, code: &str) -> StoreResult<Option<SkuRecord>> {
        let mut conn = self.read.acquire().await?;
        sku_by_code(&mut conn, code).await
    }

    /// SKUs by code, filtered, one page at a time.
    pub async fn skus(&self, f: &SkuFilter, page: &PageRequest) -> StoreResult<Page<SkuRecord>> {
        let limit = page.limit()?;
        if f.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
            return Err(DomainError::invalid("q", "invalid_query", "q is at most 100 characters").into());
        }
        // LIKE wildcards in the search text match themselves.
        let q = f.q.as_ref().map(|q| format!("%{}%", q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let rows = sqlx::query(concat!(
            sku_select!(),
            "WHERE s.code > $1 AND ($2 IS NULL OR s.product_code = $3) AND ($4 IS NULL OR p.category = $5) \
             AND ($6 IS NULL OR s.active = $7) AND ($8 IS NULL OR lower(s.name) LIKE $9 ESCAPE '\\' OR lower(s.code) LIKE $10 ESCAPE '\\' OR s.gtin = $11) \
             AND ($12 IS NULL OR s.gtin = $13) ORDER BY s.code LIMIT $14"
        ))
        .bind(page.after_key()?)
        .bind(&f.product_code)
        .bind(&f.product_code)
        .bind(&f.category)
        .bind(&f.category)
        .bind(f.active)
        .bind(f.active)
        .bind(&q)
        .bind(&q)
        .bind(&q)
        .bind(f.q.as_ref().map(|q| q.trim()))
        .bind(&f.gtin)
        .bind(&f.gtin)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(sku_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |s| s.sku.code.to_string()))
    }

    /// Imports products and SKUs (with an optional list price) in one transaction: all
    /// rows or none ([`Bulk`]). Existing codes are updated, and a price is scheduled
    /// (effective now) only when it differs from the price in force, so importing the same
    /// file twice changes nothing. Refusals name the index of each row refused.
    pub async fn import_catalog(
        &self,
        rows: &[(Product, Sku, Option<Fen>)],
        mode: Bulk,
        progress: impl FnMut(usize) + Send,
    ) -> Result<usize, Refusals> {
        self.bulk(&CatalogImport(rows), mode, progress).await
    }
}

/// The catalog import as a bulk write.
struct CatalogImport<'a>(&'a [(Product, Sku, Option<Fen>)]);

impl BulkRows for CatalogImport<'_> {
    type State = ();

    fn len(&self) -> usize {
        self.0.len()
    }

    async fn row(&self, tx: &mut WriteTx<'static, ()>, index: usize, _: &mut ()) -> StoreResult<()> {
        let (p, s, price) = &self.0[index];
        let now = tx.now;
        put_product(tx.conn(), p, now).await?;
        check_gtin_free(tx.conn(), &s.gtin, s.code.as_str()).await?;
        put_sku(tx.conn(), s, now).await?;
        let Some(price) = price else { return Ok(()) };
        let versions = crate::prices::versions_of(tx.conn(), s.code.as_str()).await?;
        let current = tongjia_domain::pricing::version_at(&versions, now).map(|v| v.list_price);
        if current != Some(*price) {
            let change = PriceChange {
                sku_code: s.code.clone(),
                list_price: *price,
                member_price: None,
                effective_at: None,
                note: Some("catalog import".into()),
            };
            let v = crate::prices::append_version(tx.conn(), change, now).await?;
            tx.emit(EventType::PriceScheduled, v.sku_code.as_str(), &v).await?;
        }
        Ok(())
    }

    async fn close(&self, tx: &mut WriteTx<'static, ()>) -> StoreResult<()> {
        tx.emit(EventType::CatalogImported, "catalog", &tongjia_domain::events::CatalogImported { skus: self.0.len() }).await
    }
}

fn product_from_row(r: &AnyRow) -> StoreResult<Product> {
    Ok(Product { code: parse(ProductCode::parse(r.try_get("code")?))?, name: r.try_get("name")?, category: r.try_get("category")? })
}

/// `Some(code)` when the SKU exists.
pub(crate) async fn sku_exists(conn: &mut AnyConnection, code: &str) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT code FROM skus WHERE code = $1").bind(code).fetch_optional(conn).await?)
}

/// The error for a SKU code that does not exist.
pub(crate) fn unknown_sku(code: &str) -> crate::StoreError {
    DomainError::not_found("sku_not_found", format!("no SKU {code}")).into()
}
