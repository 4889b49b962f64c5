//! Partners and locations (warehouses and stores).

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tongjia_domain::DomainError;
use tongjia_domain::catalog::{NAME_LEN_MAX, check_text};
use tongjia_domain::codes::{LocationCode, PartnerCode};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus, TownshipCode};

use crate::bulk::{Bulk, BulkRows, Refusals};
use crate::error::{StoreError, StoreResult, parse};
use crate::page::{Page, PageRequest};
use crate::tx::{Idem, ROWS_PER_STATEMENT, WriteTx, existing_codes, placeholders};
use crate::{Db, flag, ts, us};
use tongjia_domain::events::EventType;

/// A partner that runs authorized stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub code: PartnerCode,
    pub name: String,
}

/// A location as stored.
#[derive(Debug, Clone, Serialize)]
pub struct LocationRecord {
    pub location: Location,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filters for listing locations; all optional.
#[derive(Debug, Clone, Default)]
pub struct LocationFilter {
    /// Stores only (any store kind) when true, warehouses only when false.
    pub stores: Option<bool>,
    pub kind: Option<LocationKind>,
    pub status: Option<LocationStatus>,
    /// A prefix of the county code: 2 digits for a province, 4 for a prefecture, 6 for a county.
    pub division: Option<String>,
    pub partner_code: Option<String>,
}

const LOCATION_COLUMNS: &str = "code, name, kind, county_code, township_code, longitude, latitude, status, opened_on, closed_on, \
     CAST(pickup AS INTEGER) AS pickup, CAST(ship_from_store AS INTEGER) AS ship_from_store, delivery_radius_km, partner_code, created_at_us, \
     updated_at_us";

fn date(raw: Option<String>) -> StoreResult<Option<Date>> {
    raw.map(|d| d.parse::<Date>().map_err(|e| StoreError::Corrupt(format!("date {d}: {e}")))).transpose()
}

fn location_from_row(r: &AnyRow) -> StoreResult<LocationRecord> {
    let township: Option<String> = r.try_get("township_code")?;
    let partner: Option<String> = r.try_get("partner_code")?;
    Ok(LocationRecord {
        location: Location {
            code: parse(LocationCode::parse(r.try_get("code")?))?,
            name: r.try_get("name")?,
            kind: parse(LocationKind::parse(r.try_get("kind")?))?,
            county_code: parse(CountyCode::parse(r.try_get("county_code")?))?,
            township_code: township.map(|t| parse(TownshipCode::parse(&t))).transpose()?,
            point: GeoPoint { longitude: r.try_get("longitude")?, latitude: r.try_get("latitude")? },
            status: parse(LocationStatus::parse(r.try_get("status")?))?,
            opened_on: date(r.try_get("opened_on")?)?,
            closed_on: date(r.try_get("closed_on")?)?,
            capabilities: Capabilities {
                pickup: flag(r, "pickup")?,
                ship_from_store: flag(r, "ship_from_store")?,
                delivery_radius_km: r.try_get::<i64, _>("delivery_radius_km")? as u32,
            },
            partner_code: partner.map(|p| parse(PartnerCode::parse(&p))).transpose()?,
        },
        created_at: ts(r.try_get("created_at_us")?)?,
        updated_at: ts(r.try_get("updated_at_us")?)?,
    })
}

async fn location_by_code(conn: &mut AnyConnection, code: &str) -> StoreResult<Option<LocationRecord>> {
    let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE code = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(code).fetch_optional(conn).await?;
    row.as_ref().map(location_from_row).transpose()
}

async fn check_partner(conn: &mut AnyConnection, partner: Option<&PartnerCode>) -> StoreResult<()> {
    if let Some(p) = partner {
        let found: Option<String> =
            sqlx::query_scalar("SELECT code FROM partners WHERE code = $1").bind(p.as_str()).fetch_optional(conn).await?;
        if found.is_none() {
            return Err(DomainError::rule("unknown_partner", format!("no partner {p}")).at("partner_code").into());
        }
    }
    Ok(())
}

/// Inserts or replaces a location (create, update and import).
async fn put_location(conn: &mut AnyConnection, l: &Location, now: Timestamp) -> StoreResult<()> {
    put_locations(conn, &[l], now).await
}

/// Inserts or replaces locations, a multi-row statement per 200.
async fn put_locations(conn: &mut AnyConnection, rows: &[&Location], now: Timestamp) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO locations (code, name, kind, county_code, township_code, longitude, latitude, status, opened_on, closed_on, \
             pickup, ship_from_store, delivery_radius_km, partner_code, created_at_us, updated_at_us) VALUES {} \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, county_code = excluded.county_code, \
             township_code = excluded.township_code, longitude = excluded.longitude, latitude = excluded.latitude, status = excluded.status, \
             opened_on = excluded.opened_on, closed_on = excluded.closed_on, pickup = excluded.pickup, ship_from_store = excluded.ship_from_store, \
             delivery_radius_km = excluded.delivery_radius_km, partner_code = excluded.partner_code, updated_at_us = excluded.updated_at_us",
            placeholders(conn, chunk.len(), 16)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for l in chunk {
            q = q
                .bind(l.code.as_str())
                .bind(&l.name)
                .bind(l.kind.as_str())
                .bind(l.county_code.as_str())
                .bind(l.township_code.as_ref().map(|t| t.as_str().to_owned()))
                .bind(l.point.longitude)
                .bind(l.point.latitude)
                .bind(l.status.as_str())
                .bind(l.opened_on.map(|d| d.to_string()))
                .bind(l.closed_on.map(|d| d.to_string()))
                .bind(l.capabilities.pickup)
                .bind(l.capabilities.ship_from_store)
                .bind(i64::from(l.capabilities.delivery_radius_km))
                .bind(l.partner_code.as_ref().map(|p| p.as_str().to_owned()))
                .bind(us(now))
                .bind(us(now));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

impl Db {
    /// Registers a partner; its code must be new.
    pub async fn create_partner(&self, p: Partner, idem: Option<&Idem<'_, Partner>>) -> StoreResult<Partner> {
        let mut tx = self.begin(idem, self.now()).await?;
        let name = check_text("name", &p.name, NAME_LEN_MAX)?;
        let p = Partner { name, ..p };
        let inserted = sqlx::query("INSERT INTO partners (code, name, created_at_us) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
            .bind(p.code.as_str())
            .bind(&p.name)
            .bind(us(tx.now))
            .execute(tx.conn())
            .await?
            .rows_affected();
        if inserted == 0 {
            return Err(DomainError::conflict("partner_exists", format!("partner {} already exists", p.code)).at("partner_code").into());
        }
        tx.emit(EventType::PartnerCreated, p.code.as_str(), &p).await?;
        tx.commit(p).await
    }

    pub async fn partners(&self, page: &PageRequest) -> StoreResult<Page<Partner>> {
        let limit = page.limit()?;
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT code, name FROM partners WHERE code > $1 ORDER BY code LIMIT $2")
            .bind(page.after_key()?)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.read)
            .await?;
        let items = rows
            .into_iter()
            .map(|(code, name)| Ok(Partner { code: parse(PartnerCode::parse(&code))?, name }))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |p| p.code.to_string()))
    }

    /// Creates a location; its code must be new and its partner known.
    pub async fn create_location(&self, l: Location, idem: Option<&Idem<'_, LocationRecord>>) -> StoreResult<LocationRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        if location_by_code(tx.conn(), l.code.as_str()).await?.is_some() {
            return Err(DomainError::conflict("location_exists", format!("location {} already exists", l.code))
                .at(if l.kind.is_store() { "store_code" } else { "warehouse_code" })
                .into());
        }
        check_site(&l)?;
        check_partner(tx.conn(), l.partner_code.as_ref()).await?;
        let now = tx.now;
        put_location(tx.conn(), &l, now).await?;
        let record = location_by_code(tx.conn(), l.code.as_str()).await?.ok_or_else(|| StoreError::Corrupt("location vanished".into()))?;
        tx.emit(EventType::LocationCreated, l.code.as_str(), &record).await?;
        let record = tx.commit(record).await;
        self.network.changed();
        record
    }

    /// Replaces a location's fields with `l` (validated by the caller from the current
    /// record plus a patch); a store cannot change between warehouse and store.
    pub async fn update_location(&self, l: Location, idem: Option<&Idem<'_, LocationRecord>>) -> StoreResult<LocationRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        let current = location_by_code(tx.conn(), l.code.as_str()).await?.ok_or_else(|| unknown_location(l.code.as_str()))?;
        if current.location.kind.is_store() != l.kind.is_store() {
            return Err(DomainError::rule("kind_change_not_allowed", "a warehouse cannot become a store or the reverse").at("kind").into());
        }
        check_site(&l)?;
        check_partner(tx.conn(), l.partner_code.as_ref()).await?;
        let now = tx.now;
        put_location(tx.conn(), &l, now).await?;
        let record = location_by_code(tx.conn(), l.code.as_str()).await?.ok_or_else(|| StoreError::Corrupt("location vanished".into()))?;
        tx.emit(EventType::LocationUpdated, l.code.as_str(), &record).await?;
        let record = tx.commit(record).await;
        self.network.changed();
        record
    }

    pub async fn location(&self, code: &str) -> StoreResult<Option<LocationRecord>> {
        let mut conn = self.read.acquire().await?;
        location_by_code(&mut conn, code).await
    }

    /// Locations by code, filtered, one page at a time.
    pub async fn locations(&self, f: &LocationFilter, page: &PageRequest) -> StoreResult<Page<LocationRecord>> {
        let limit = page.limit()?;
        let sql = format!(
            "SELECT {LOCATION_COLUMNS} FROM locations WHERE code > $1 \
             AND ($2 IS NULL OR (kind <> 'warehouse') = $3) AND ($4 IS NULL OR kind = $5) AND ($6 IS NULL OR status = $7) \
             AND ($8 IS NULL OR county_code LIKE $9) AND ($10 IS NULL OR partner_code = $11) ORDER BY code LIMIT $12"
        );
        let kind = f.kind.map(LocationKind::as_str);
        let status = f.status.map(LocationStatus::as_str);
        let division = f.division.as_ref().map(|d| format!("{d}%"));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after_key()?)
            .bind(f.stores)
            .bind(f.stores)
            .bind(kind)
            .bind(kind)
            .bind(status)
            .bind(status)
            .bind(&division)
            .bind(&division)
            .bind(&f.partner_code)
            .bind(&f.partner_code)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.read)
            .await?;
        let items = rows.iter().map(location_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |l| l.location.code.to_string()))
    }

    /// Counts of locations by kind and status within an optional division prefix.
    pub async fn location_counts(&self, division: Option<&str>) -> StoreResult<Vec<(LocationKind, LocationStatus, i64)>> {
        let division = division.map(|d| format!("{d}%"));
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT kind, status, COUNT(*) FROM locations WHERE ($1 IS NULL OR county_code LIKE $2) GROUP BY kind, status ORDER BY kind, status")
                .bind(&division)
                .bind(&division)
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(|(k, s, n)| Ok((parse(LocationKind::parse(&k))?, parse(LocationStatus::parse(&s))?, n))).collect()
    }

    /// Imports partners and locations in one transaction: all rows or none ([`Bulk`]).
    /// Existing codes are updated. Refusals name the index of each location row refused.
    pub async fn import_locations(
        &self,
        partners: &[Partner],
        rows: &[Location],
        mode: Bulk,
        progress: impl FnMut(usize) + Send,
    ) -> Result<usize, Refusals> {
        let imported = self.bulk(&LocationImport { partners, rows }, mode, progress).await;
        self.network.changed();
        imported
    }

    /// Every location, in code order (imports compare against them; the network is
    /// bounded by the size of a brand's store network).
    pub async fn every_location(&self) -> StoreResult<Vec<Location>> {
        let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations ORDER BY code");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.read).await?;
        rows.iter().map(|r| Ok(location_from_row(r)?.location)).collect()
    }
}

/// The stores import as a bulk write: partners first, then each location.
struct LocationImport<'a> {
    partners: &'a [Partner],
    rows: &'a [Location],
}

impl BulkRows for LocationImport<'_> {
    type State = ();

    fn len(&self) -> usize {
        self.rows.len()
    }

    async fn prelude(&self, tx: &mut WriteTx<'static, ()>) -> StoreResult<()> {
        let now = tx.now;
        for p in self.partners {
            sqlx::query(
                "INSERT INTO partners (code, name, created_at_us) VALUES ($1, $2, $3) ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            )
            .bind(p.code.as_str())
            .bind(&p.name)
            .bind(us(now))
            .execute(tx.conn())
            .await?;
        }
        Ok(())
    }

    async fn row(&self, tx: &mut WriteTx<'static, ()>, index: usize, _: &mut ()) -> StoreResult<()> {
        let l = &self.rows[index];
        let now = tx.now;
        check_site(l)?;
        check_partner(tx.conn(), l.partner_code.as_ref()).await?;
        put_location(tx.conn(), l, now).await
    }

    /// Every site checked, the partners they name read in a few queries, and the locations
    /// written with a multi-row statement per 200 (two statements per row otherwise).
    /// (Row by row when a code repeats: the later row replaces the earlier, which one
    /// statement cannot do on PostgreSQL.)
    async fn at_once(&self, tx: &mut WriteTx<'static, ()>) -> Option<Result<(), (usize, StoreError)>> {
        let codes: std::collections::HashSet<&str> = self.rows.iter().map(|l| l.code.as_str()).collect();
        if codes.len() < self.rows.len() {
            return None;
        }
        Some(self.all_at_once(tx).await)
    }

    async fn close(&self, tx: &mut WriteTx<'static, ()>) -> StoreResult<()> {
        let imported = tongjia_domain::events::LocationsImported { locations: self.rows.len() };
        tx.emit(EventType::LocationsImported, "locations", &imported).await
    }
}

impl LocationImport<'_> {
    async fn all_at_once(&self, tx: &mut WriteTx<'static, ()>) -> Result<(), (usize, StoreError)> {
        for (i, l) in self.rows.iter().enumerate() {
            check_site(l).map_err(|e| (i, e))?;
        }
        let named: std::collections::BTreeSet<&str> =
            self.rows.iter().filter_map(|l| l.partner_code.as_ref().map(|p| p.as_str())).collect();
        let named: Vec<&str> = named.into_iter().collect();
        let at = self.rows.len();
        let found = existing_codes(tx.conn(), "partners", &named).await.map_err(|e| (at, e))?;
        if let Some(i) = self.rows.iter().position(|l| l.partner_code.as_ref().is_some_and(|p| !found.contains(p.as_str()))) {
            // The row by row pass words the refusal.
            return Err((i, DomainError::rule("unknown_partner", "no such partner").at("partner_code").into()));
        }
        let rows: Vec<&Location> = self.rows.iter().collect();
        let now = tx.now;
        put_locations(tx.conn(), &rows, now).await.map_err(|e| (at, e))
    }
}

/// Refuses a location outside China's real county-level divisions (or in a township of
/// another county).
fn check_site(l: &Location) -> StoreResult<()> {
    Ok(crate::reference::divisions().check_site(l.county_code.as_str(), l.township_code.as_ref().map(|t| t.as_str()), &l.point)?)
}

/// Every location as coverage, gaps, the planner and the locator see it.
impl Db {
    pub async fn store_sites(&self) -> StoreResult<std::sync::Arc<[tongjia_domain::network::StoreSite]>> {
        // The generation is read before the network: a change committed while it is read
        // leaves the copy tagged older, and the next call reads again.
        let generation = self.network.generation();
        if let Some(sites) = self.network.cached(generation) {
            return Ok(sites);
        }
        // One read at a time: a burst arriving at a cold (or just changed) network waits for
        // the one read instead of each reading every location.
        let _reading = self.network.reading.lock().await;
        let generation = self.network.generation();
        if let Some(sites) = self.network.cached(generation) {
            return Ok(sites);
        }
        let sites: std::sync::Arc<[_]> = self
            .every_location()
            .await?
            .into_iter()
            .map(|l| tongjia_domain::network::StoreSite {
                code: l.code.to_string(),
                kind: l.kind,
                county_code: l.county_code.to_string(),
                township_code: l.township_code.map(|t| t.to_string()),
                point: l.point,
                status: l.status,
                ship_from_store: l.kind == tongjia_domain::location::LocationKind::Warehouse || l.capabilities.ship_from_store,
                opened_on: l.opened_on,
                closed_on: l.closed_on,
            })
            .collect();
        self.network.keep(generation, sites.clone());
        Ok(sites)
    }

    /// The store network's generation: it moves on every change of a location this process
    /// makes, and on [`Db::network_changed`].
    pub fn network_generation(&self) -> u64 {
        self.network.generation()
    }

    /// Tells this process that another one changed the network (its `location.*` events
    /// arrived on the outbox): the next read of the network reads the database.
    pub fn network_changed(&self) {
        self.network.changed();
    }
}

/// The error for a location code that does not exist.
pub(crate) fn unknown_location(code: &str) -> StoreError {
    DomainError::not_found("location_not_found", format!("no location {code}")).into()
}

/// The store network as last read, tagged with the generation it was read at: reads of the
/// network (the locator, coverage, sourcing's candidates) come from memory until a change.
#[derive(Default)]
pub(crate) struct NetworkCache {
    generation: std::sync::atomic::AtomicU64,
    sites: std::sync::Mutex<Option<(u64, std::sync::Arc<[tongjia_domain::network::StoreSite]>)>>,
    /// Held while the network is read, so that it is read once for everyone waiting.
    reading: tokio::sync::Mutex<()>,
}

impl NetworkCache {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn cached(&self, generation: u64) -> Option<std::sync::Arc<[tongjia_domain::network::StoreSite]>> {
        let kept = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref().filter(|(g, _)| *g == generation).map(|(_, s)| s.clone())
    }

    fn keep(&self, generation: u64, sites: std::sync::Arc<[tongjia_domain::network::StoreSite]>) {
        let mut kept = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        if kept.as_ref().is_none_or(|(g, _)| *g <= generation) {
            *kept = Some((generation, sites));
        }
    }
}
