//! The till's cart: the lines scanned so far, each at the price book's price of the moment
//! (there is no price field anywhere: a line is a SKU and a quantity), with the store's own
//! stock. The cart lives in the page as hidden `line` fields (`SKU*quantity`); every scan
//! sends them back with the new code and gets the whole cart again, priced afresh.

use jiff::Timestamp;
use tongjia_domain::Fen;
use tongjia_domain::codes::{LocationCode, SkuCode};
use tongjia_domain::customer::Mobile;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::orders::{ORDER_LINES_MAX, OrderLine, price_lines, total_paid};
use tongjia_storage::{PageRequest, SkuFilter};

use crate::AppState;
use crate::problem::{ApiError, ApiResult};

/// Lines one cart holds at most (every scan prices them all).
pub(crate) const LINES_MAX: usize = ORDER_LINES_MAX;
/// Units of one SKU on one line at most.
const QUANTITY_MAX: i64 = 999;
/// Name matches offered for a search that is not a barcode or code.
const MATCHES_SHOWN: u32 = 8;

/// One line as the till shows it: priced by the domain from the price book's quote.
pub(crate) struct Line {
    pub(crate) name: String,
    pub(crate) priced: OrderLine,
    /// Available to promise at this store now.
    pub(crate) here: i64,
}

/// The cart as asked for: its lines, what a scan found (or why not), and the member.
#[derive(Default)]
pub(crate) struct Cart {
    pub(crate) lines: Vec<Line>,
    /// SKUs a name search matched, for the clerk to choose from.
    pub(crate) choices: Vec<(String, String)>,
    /// Why the last scan added nothing.
    pub(crate) notice: Option<String>,
    pub(crate) member: Option<Member>,
}

/// The member the sale is for.
pub(crate) struct Member {
    pub(crate) mobile: Mobile,
    pub(crate) points: i64,
}

impl Cart {
    pub(crate) fn total(&self) -> Fen {
        total_paid(&self.lines.iter().map(|l| l.priced.clone()).collect::<Vec<_>>())
    }
}

/// `SKU*quantity` (a quantity of 1 may be left out) as the page keeps a line.
pub(crate) fn parse_line(raw: &str) -> ApiResult<(SkuCode, i64)> {
    let (code, quantity) = raw.split_once('*').unwrap_or((raw, "1"));
    let sku = SkuCode::parse(code.trim()).map_err(|e| ApiError::from(tongjia_storage::StoreError::Domain(e.at("line"))))?;
    let quantity = quantity.trim().parse::<i64>().ok().filter(|q| (1..=QUANTITY_MAX).contains(q));
    let Some(quantity) = quantity else {
        return Err(ApiError::field("line", "invalid_quantity", format!("a line's quantity is 1 to {QUANTITY_MAX}")));
    };
    Ok((sku, quantity))
}

/// Parses the page's `line` fields, merging repeats of a SKU.
pub(crate) fn parse_lines<'a>(raw: impl Iterator<Item = &'a str>) -> ApiResult<Vec<(SkuCode, i64)>> {
    let mut out: Vec<(SkuCode, i64)> = vec![];
    for r in raw.filter(|r| !r.trim().is_empty()) {
        let (sku, q) = parse_line(r)?;
        match out.iter_mut().find(|(s, _)| *s == sku) {
            Some(line) if line.1 + q > QUANTITY_MAX => {
                return Err(ApiError::field("line", "invalid_quantity", format!("a line's quantity is 1 to {QUANTITY_MAX}")));
            }
            Some(line) => line.1 += q,
            None => out.push((sku, q)),
        }
        if out.len() > LINES_MAX {
            return Err(ApiError::field("line", "too_many_lines", format!("a sale has at most {LINES_MAX} lines")));
        }
    }
    Ok(out)
}

/// What a scan or a typed text names: the SKU with this barcode or code, or the SKUs whose
/// names hold it.
async fn find(app: &AppState, text: &str) -> ApiResult<Result<SkuCode, Vec<(String, String)>>> {
    let text = text.trim();
    if text.len() == 13 && text.bytes().all(|b| b.is_ascii_digit()) {
        let filter = SkuFilter { gtin: Some(text.to_owned()), active: Some(true), ..Default::default() };
        let found = app.db.skus(&filter, &PageRequest { limit: Some(1), after: None }).await?;
        return Ok(found.items.into_iter().next().map(|r| r.sku.code).ok_or_else(Vec::new));
    }
    if let Ok(code) = SkuCode::parse(text)
        && app.db.sku(code.as_str()).await?.is_some_and(|r| r.sku.active)
    {
        return Ok(Ok(code));
    }
    let text = tongjia_domain::catalog::check_text("add", text, 100)?;
    let filter = SkuFilter { q: Some(text), active: Some(true), ..Default::default() };
    let found = app.db.skus(&filter, &PageRequest { limit: Some(MATCHES_SHOWN), after: None }).await?;
    let mut matches: Vec<(String, String)> = found.items.into_iter().map(|r| (r.sku.code.to_string(), r.sku.name)).collect();
    if matches.len() == 1 {
        return Ok(Ok(SkuCode::parse(&matches.remove(0).0)?));
    }
    Ok(Err(matches))
}

/// The cart after a scan (`add`) or a removal (`remove`), priced now at `store`.
pub(crate) async fn build(
    app: &AppState,
    store: &LocationCode,
    mut lines: Vec<(SkuCode, i64)>,
    add: Option<&str>,
    remove: Option<&str>,
    member: Option<Mobile>,
) -> ApiResult<Cart> {
    let mut cart = Cart::default();
    if let Some(remove) = remove {
        lines.retain(|(s, _)| s.as_str() != remove);
    }
    if let Some(text) = add.map(str::trim).filter(|t| !t.is_empty()) {
        match find(app, text).await? {
            Ok(sku) => match lines.iter().position(|(s, _)| *s == sku) {
                Some(i) if lines[i].1 >= QUANTITY_MAX => cart.notice = Some(format!("a line's quantity is 1 to {QUANTITY_MAX}")),
                Some(i) => lines[i].1 += 1,
                None if lines.len() >= LINES_MAX => cart.notice = Some(format!("a sale has at most {LINES_MAX} lines")),
                None => lines.push((sku, 1)),
            },
            Err(choices) if choices.is_empty() => cart.notice = Some(format!("nothing matches {text}")),
            Err(choices) => cart.choices = choices,
        }
    }
    let now = Timestamp::now();
    let mut kept = vec![];
    let mut quotes = vec![];
    let mut names = vec![];
    for (sku, quantity) in lines {
        let Some(record) = app.db.sku(sku.as_str()).await? else { continue };
        // The price book's quote, the same call as `GET /skus/{sku}/quote`.
        match app.db.quote(&sku, now, member.is_some()).await {
            Ok(q) => quotes.push(q),
            Err(e) => {
                cart.notice = Some(ApiError::from(e).detail);
                continue;
            }
        }
        names.push(record.sku.name);
        kept.push((sku, Quantity::new(quantity)?));
    }
    if !kept.is_empty() {
        let priced = price_lines(&kept, &quotes, 0, &app.policy.points)?;
        for ((line, name), (sku, _)) in priced.into_iter().zip(names).zip(&kept) {
            let here = app.db.availability(sku, Some(store)).await?.first().map_or(0, |(_, _, a)| a.available);
            cart.lines.push(Line { name, priced: line, here });
        }
    }
    if let Some(mobile) = member {
        let points = app.db.customer(&mobile).await?.map_or(0, |c| c.points_balance);
        cart.member = Some(Member { mobile, points });
    }
    Ok(cart)
}
