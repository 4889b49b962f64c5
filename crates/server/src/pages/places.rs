//! Where a shopper is: China's real divisions, picked province → city → county with plain
//! forms (each choice reloads the page with the deeper list; no script needed).

use maud::{Markup, html};
use tongjia_domain::network::DivisionLevel;
use tongjia_storage::reference::divisions;

use super::Lang;

/// The province, prefecture and county of `code`, each with its name; None if unknown.
pub(crate) fn trail(code: &str) -> Option<Vec<(String, String)>> {
    let all = divisions();
    let mut out = vec![];
    let mut at = all.get(code)?;
    loop {
        out.push((at.code.clone(), at.name.clone()));
        match at.parent.as_deref().and_then(|p| all.get(p)) {
            Some(parent) => at = parent,
            None => break,
        }
    }
    out.reverse();
    Some(out)
}

/// Three chained pickers (province, city, county) as plain forms: each choice reloads the
/// page with the deeper list, no script needed.
pub(crate) fn place_picker(lang: Lang, here: &str, place: &[(String, String)], keep: &[(&str, &str)]) -> Markup {
    let all = divisions();
    let provinces: Vec<_> = all.at_level(DivisionLevel::Province).collect();
    let levels = [("province", None), ("city", place.first()), ("county", place.get(1))];
    html! {
        p.muted { (lang.t("choose_place")) }
        @for (i, (label, parent)) in levels.iter().enumerate() {
            @let options: Vec<(String, String)> = match parent {
                None if i == 0 => provinces.iter().map(|d| (d.code.clone(), d.name.clone())).collect(),
                Some((code, _)) => all.children_of(code).filter(|d| d.level != DivisionLevel::Township).map(|d| (d.code.clone(), d.name.clone())).collect(),
                None => vec![],
            };
            @if !options.is_empty() {
                form.inline method="get" action=(here) {
                    label { (lang.t(label)) " "
                        select name="division_code" {
                            @for (code, name) in &options {
                                option value=(code) selected[place.get(i).is_some_and(|p| &p.0 == code)] { (name) }
                            }
                        }
                    }
                    @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
                    @for (name, value) in keep { input type="hidden" name=(name) value=(value); }
                    button type="submit" { (lang.t("show")) }
                }
            }
        }
    }
}
