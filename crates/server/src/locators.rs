//! The locator of the stores open today, built once per change of the store network (and
//! once a day) and shared by every request: building the R-tree of a national network takes
//! milliseconds, asking it microseconds. The network itself comes from `Db::store_sites`,
//! which reads the database only after a change (this process's own, or another server's as
//! its `location.*` events arrive on the outbox feed).

use jiff::civil::Date;
use std::sync::{Arc, Mutex};
use tongjia_domain::network::Locator;
use tongjia_storage::Db;

use crate::problem::ApiResult;

/// The last locator built: for which network generation and day.
#[derive(Default)]
pub(crate) struct Locators {
    kept: Mutex<Option<(u64, Date, Arc<Locator>)>>,
}

impl Locators {
    /// The locator of the stores open on `day`.
    pub(crate) async fn open_on(&self, db: &Db, day: Date) -> ApiResult<Arc<Locator>> {
        let generation = db.network_generation();
        {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, _, locator)) = kept.as_ref().filter(|(g, d, _)| *g == generation && *d == day) {
                return Ok(locator.clone());
            }
        }
        let sites = db.store_sites().await?;
        let open = sites.iter().filter(|s| s.open_on(day)).map(|s| (s.code.clone(), s.point)).collect();
        let locator = Arc::new(Locator::new(open));
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.as_ref().is_none_or(|(g, _, _)| *g <= generation) {
            *kept = Some((generation, day, locator.clone()));
        }
        Ok(locator)
    }

    /// The locator of the stores open today (the server's date, as every network answer).
    pub(crate) async fn open_today(&self, db: &Db) -> ApiResult<Arc<Locator>> {
        self.open_on(db, crate::http::today()).await
    }
}
