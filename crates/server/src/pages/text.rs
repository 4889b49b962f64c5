//! The pages' words in Chinese and English.

/// The language a page is shown in: Chinese unless `?lang=en`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    #[default]
    Zh,
    En,
}

/// (key, Chinese, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("brand", "领明 Lumen", "Lumen 领明"),
    ("language_name", "中文", "English"),
    ("storefront", "商城", "Shop"),
    ("catalogue", "全部商品", "All products"),
    ("search", "搜索", "Search"),
    ("search_hint", "商品名称或编码", "Name or code"),
    ("no_results", "没有找到商品", "No products found"),
    ("price", "售价", "Price"),
    ("member_price", "会员价", "Member price"),
    ("price_version", "价格版本", "Price version"),
    ("since", "起始", "Since"),
    ("same_everywhere", "线上线下同价：APP、网店与每一家门店都是这个价格。", "The same price in the app, online and in every store."),
    ("next_change", "已公布的下次调价", "Next announced change"),
    ("none_announced", "暂无已公布的调价", "No change announced"),
    ("stock_near", "附近门店库存", "In stock near you"),
    ("choose_place", "选择所在地区", "Choose where you are"),
    ("province", "省份", "Province"),
    ("city", "城市", "City"),
    ("county", "区县", "County"),
    ("show", "查看", "Show"),
    ("store", "门店", "Store"),
    ("distance", "距离", "Distance"),
    ("available", "可售", "Available"),
    ("none_near", "附近门店暂无库存", "No store near you has it now"),
    ("no_price", "尚未定价", "No price yet"),
    ("not_found", "没有找到", "Not found"),
    ("refused", "无法完成", "Could not be done"),
    ("back_to_store", "返回商城", "Back to the shop"),
    ("price_check", "价格查询", "Price check"),
    ("check_price", "查看价格与库存", "Price and stock"),
];

impl Lang {
    /// From `?lang=`: `en` is English, anything else Chinese.
    pub(crate) fn from_query(raw: Option<&str>) -> Lang {
        if raw == Some("en") { Lang::En } else { Lang::Zh }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub(crate) fn html_code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub(crate) fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The word for `key` (the key itself if there is none: a test checks every key used).
    pub(crate) fn t(self, key: &'static str) -> &'static str {
        WORDS.iter().find(|(k, ..)| *k == key).map_or(key, |(_, zh, en)| if self == Lang::Zh { zh } else { en })
    }

    /// `path` in this language (Chinese links carry no parameter).
    pub(crate) fn link(self, path: &str) -> String {
        match self {
            Lang::Zh => path.to_owned(),
            Lang::En => format!("{path}{}lang=en", if path.contains('?') { "&" } else { "?" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_keys_are_unique() {
        for (i, (k, zh, en)) in WORDS.iter().enumerate() {
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
            assert!(WORDS[..i].iter().all(|(other, ..)| other != k), "{k} twice");
        }
        assert_eq!(Lang::En.link("/p/X?division_code=1"), "/p/X?division_code=1&lang=en");
    }
}
