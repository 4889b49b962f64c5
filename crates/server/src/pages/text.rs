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
    ("till", "收银台", "Till"),
    ("barcode", "条码", "Barcode"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("username", "用户名", "Username"),
    ("password", "密码", "Password"),
    ("store_code", "门店编码", "Store code"),
    ("open_till", "打开收银台", "Open the till"),
    ("scan", "扫码", "Scan"),
    ("scan_hint", "扫描条码，或输入商品名称、编码后回车", "Scan a barcode, or type a name or code and press Enter"),
    ("price_news", "调价通知", "Price changes"),
    (
        "price_news_hint",
        "总部调价生效时，这里和购物车会立即更新。",
        "When headquarters' price changes take effect they appear here and in the cart at once.",
    ),
    ("choose_item", "请选择商品：", "Choose the item:"),
    ("cart_empty", "购物车是空的：请扫码。", "The cart is empty: scan an item."),
    ("item", "商品", "Item"),
    ("quantity", "数量", "Qty"),
    ("line_total", "小计", "Line total"),
    ("here", "本店库存", "In this store"),
    ("remove", "移除", "Remove"),
    ("total", "合计", "Total"),
    ("member_mobile", "会员手机号", "Member mobile"),
    ("find_member", "查找会员", "Find member"),
    ("points", "积分", "Points"),
    ("pay_cash", "现金收款", "Take cash"),
    ("pay_card", "刷卡收款", "Take card"),
    ("endless_aisle", "无限货架：从其他门店或仓库发货", "Endless aisle: deliver from elsewhere"),
    (
        "endless_aisle_hint",
        "本店缺货时，系统就近选择有货的地点发货到顾客所在区县，在此收款。",
        "When this store has none, the engine picks the nearest location with stock to deliver to the shopper's county; payment is taken here.",
    ),
    ("county_code", "送货区县代码", "Delivery county code"),
    ("order_for_delivery", "下单送货（现金）", "Order for delivery (cash)"),
    ("new_sale", "下一位顾客", "Next customer"),
    ("order", "订单", "Order"),
    ("carry_out", "门店销售（当场带走）", "Carry-out sale"),
    ("cash", "现金", "Cash"),
    ("card", "银行卡", "Card"),
    ("endless_aisle_kind", "无限货架订单", "Endless-aisle order"),
    ("paid_by", "支付方式", "Paid by"),
    ("points_earned", "本单积分", "Points earned"),
    ("scan_to_check", "扫描二维码查看该商品的统一价格。", "Scan a code to check the item's one price."),
    ("print", "打印小票", "Print receipt"),
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
