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
    ("buy", "购买", "Buy"),
    ("basket", "购物车", "Basket"),
    ("pickup_code_locked", "提货码输错五次，已锁定交付。", "Five wrong pickup codes: the handover is locked."),
    ("cancel_locked", "取消订单并退款", "Cancel and refund"),
    (
        "cancel_locked_confirm",
        "取消这个订单并原路退款？商品回到可售库存，顾客需重新下单。",
        "Cancel this order and refund it? The goods go back on sale; the shopper orders again.",
    ),
    ("basket_empty", "购物车是空的。", "Your basket is empty."),
    ("add_to_basket", "加入购物车", "Add to basket"),
    ("update", "更新", "Update"),
    ("basket_priced_now", "价格按价格簿当前价格计算，下单时再次核价。", "Priced now by the price book, and priced again when you order."),
    ("console", "总部后台", "Console"),
    ("stores", "门店", "Stores"),
    ("all_provinces", "全部省份", "All provinces"),
    ("any_kind", "全部类型", "Any kind"),
    ("open", "营业", "Open"),
    ("planned", "筹备", "Planned"),
    ("closed", "已关闭", "Closed"),
    ("warehouse", "仓库", "Warehouse"),
    ("stock", "库存", "Stock"),
    ("partner", "合作伙伴", "Partner"),
    ("staff", "员工", "Staff"),
    ("owner", "货主", "Owner"),
    ("across_network", "全网库存", "Across the network"),
    ("at_location", "门店/仓库库存", "At a location"),
    ("receipts", "入库", "Receipts"),
    ("transfers", "调拨", "Transfers"),
    ("csv_prices", "批量调价（CSV）", "Several prices (CSV)"),
    (
        "csv_prices_note",
        "每行：商品编码,售价（元）,会员价（元，可空）,生效时间（北京时间，可空）,备注；全部成功或全部不生效。",
        "One per line: SKU code, list price (yuan), member price (yuan, may be blank), takes effect (China time, may be blank), note. All of them or none.",
    ),
    ("scheduled_count", "已提交调价", "Prices scheduled"),
    ("dashboard", "概览", "Dashboard"),
    ("prices", "价格", "Prices"),
    ("coverage_map", "门店覆盖地图", "Coverage map"),
    ("orders", "订单", "Orders"),
    ("audit", "操作日志", "Audit trail"),
    ("shelf_labels", "价签", "Shelf labels"),
    ("sales", "销售额", "Sales"),
    ("no_sales_yet", "今天还没有销售", "No sales yet today"),
    ("channel_online", "线上", "Online"),
    ("channel_store", "门店", "In store"),
    ("kind_direct", "直营店", "Direct stores"),
    ("kind_authorized", "授权店", "Authorized stores"),
    ("kind_township", "乡镇授权店", "Township stores"),
    ("other", "其他", "Other"),
    ("today_by_channel", "今日销售（按渠道）", "Today's sales by channel"),
    ("today_by_store_kind", "今日销售（按门店类型）", "Today's sales by store kind"),
    ("orders_by_state", "订单状态", "Orders by state"),
    ("stock_value", "库存价值", "Stock value"),
    ("units_at_list_price", "件，按现行售价计", "units, at the list prices in force"),
    ("sales_30_days", "近 30 天销售（扣除退款）", "Sales, last 30 days (net of refunds)"),
    ("schedule_price", "调价", "Schedule a price"),
    (
        "one_price_note",
        "一个价格适用于所有渠道和门店，从生效时间起。",
        "One price for every channel and store, from the moment it takes effect.",
    ),
    ("sku_code", "商品编码", "SKU code"),
    ("list_price_yuan", "售价（元）", "List price (yuan)"),
    ("member_price_yuan", "会员价（元，可选）", "Member price (yuan, optional)"),
    ("effective_at_local", "生效时间（北京时间）", "Takes effect (China time)"),
    ("blank_is_now", "留空即立即生效", "blank: at once"),
    ("note", "备注", "Note"),
    ("schedule", "提交调价", "Schedule"),
    ("tills_told", "已通知收银台", "Tills told"),
    ("in_force", "现行", "in force"),
    ("scheduled", "待生效", "scheduled"),
    (
        "tills_told_note",
        "生效时本服务器已推送到的门店收银台数量，每 2 秒刷新。",
        "Stores whose open tills this server told when the version took effect; refreshed every 2 s.",
    ),
    ("counties_covered", "区县覆盖率", "Counties covered"),
    ("open_stores", "营业门店", "Open stores"),
    ("covered", "已覆盖区县", "Covered county"),
    ("not_covered", "未覆盖区县", "Uncovered county"),
    ("farthest_gaps", "离门店最远的空白区县", "Farthest gaps"),
    ("planned_sites", "规划新店", "Planned sites"),
    ("plan_note", "按规划新开这些店，新覆盖区县：", "Opening these would newly cover counties:"),
    ("more", "更多", "More"),
    ("status", "状态", "Status"),
    ("any_status", "全部状态", "Any status"),
    ("channel", "渠道", "Channel"),
    ("placed_at", "时间", "When"),
    ("returned", "已退", "Returned"),
    ("allocations", "货源分配", "Allocations"),
    ("moved", "调拨", "moved"),
    ("payments", "支付与退款", "Payments and refunds"),
    ("sourcing", "货源决策及原因", "Sourcing and why"),
    ("ledger_entries", "库存流水", "Ledger entries"),
    ("kind", "类型", "Kind"),
    ("on_hand", "在库", "On hand"),
    ("reserved_units", "占用", "Reserved"),
    ("who", "操作人", "Who"),
    ("action", "操作", "Action"),
    ("from_where", "来源地址", "From"),
    (
        "labels_note",
        "A4 纸，每张 24 个价签；二维码打开该商品的价格查询页。",
        "A4, 24 labels a sheet; each QR code opens the SKU's price check.",
    ),
    ("checkout", "结算", "Checkout"),
    (
        "member_by_mobile",
        "留下手机号即为会员，按会员价结算并累计积分",
        "give your mobile and you are a member: the member price, and points",
    ),
    ("deliver_or_collect", "送货或到店自提", "Delivered or collected"),
    ("delivery_to", "送货到", "Deliver to"),
    (
        "choose_county_for_delivery",
        "选到区县即可送货上门；也可以在下面的门店自提。",
        "Choose down to a county for delivery; or collect at a store below.",
    ),
    ("pickup_at", "到店自提：", "Collect at"),
    ("your_mobile", "手机号", "Mobile"),
    (
        "mobile_note",
        "凭订单号和手机号查询订单；会员按手机号累计积分。",
        "Follow the order by its id and this mobile; members earn points by it.",
    ),
    ("place_order", "提交订单", "Place the order"),
    ("my_order", "我的订单", "My order"),
    ("order_id", "订单号", "Order id"),
    ("pickup_code_note", "到店时向店员出示此提货码。", "Show this code at the store to collect."),
    ("pay_simulator", "用支付模拟器付款", "Pay with the payment simulator"),
    (
        "pay_simulator_note",
        "演示用：模拟器像微信支付一样签名支付通知，服务器验证后才认为已支付。",
        "Demo: the simulator signs its payment notification as WeChat Pay would; the server believes it only once verified.",
    ),
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
    ("pickups", "到店自提", "Pickups"),
    ("elsewhere", "附近其他门店有货", "Elsewhere nearby"),
    ("elsewhere_hint", "点购物车里的 ⌖ 查看附近哪家门店有货。", "Press ⌖ on a cart line to see which stores nearby have it."),
    ("show_pickups", "查看待自提订单", "Show pickups waiting"),
    ("no_pickups", "暂无待自提订单", "No pickups waiting"),
    ("mark_ready", "货已到店，可提货", "Goods are here: ready"),
    ("pickup_code", "提货码", "Pickup code"),
    ("hand_over", "核验并交付", "Check code and hand over"),
    ("returns", "退货", "Returns"),
    ("order_id_hint", "订单号（任意渠道）", "Order id (any channel)"),
    ("find_order", "查找订单", "Find order"),
    ("take_back", "退回数量", "Take back"),
    ("damaged", "已损坏", "Damaged"),
    ("all_returned", "已全部退回", "All returned"),
    ("take_back_button", "办理退货退款", "Take back and refund"),
    ("refunded", "已退款", "Refunded"),
    ("placed", "已下单", "Placed"),
    ("reserved", "待支付", "Awaiting payment"),
    ("paid", "已支付", "Paid"),
    ("fulfilling", "备货中", "Being prepared"),
    ("shipped", "已发货", "Shipped"),
    ("ready_for_pickup", "待提货", "Ready for pickup"),
    ("completed", "已完成", "Completed"),
    ("cancelled", "已取消", "Cancelled"),
];

/// What a refusal means, in Chinese, for the problems a shopper, a clerk or a merchandiser
/// meets on a page (its `detail`, in English, is shown under it; other codes show the
/// detail alone).
const REFUSALS: &[(&str, &str)] = &[
    ("insufficient_stock", "库存不足，无法满足所需数量。"),
    ("sku_not_found", "没有这个商品，或它已下架。"),
    ("sku_inactive", "这个商品已下架。"),
    ("order_not_found", "没有找到这个订单：请核对订单号和手机号。"),
    ("store_not_found", "没有这家门店。"),
    ("location_not_found", "没有这个地点。"),
    ("location_not_open", "这家门店目前不营业。"),
    ("store_not_open", "这家门店目前不营业。"),
    ("division_not_found", "没有这个行政区划。"),
    ("invalid_mobile", "手机号格式不正确：请输入 11 位中国大陆手机号。"),
    ("invalid_quantity", "数量不正确。"),
    ("quantity_not_positive", "数量必须大于零。"),
    ("invalid_code", "编码格式不正确。"),
    ("invalid_fulfilment", "请选择配送到家或到店自提。"),
    ("destination_required", "请选择配送到的区县。"),
    ("pickup_store_required", "请选择自提门店。"),
    ("pickup_not_offered", "这家门店不提供自提。"),
    ("client_price_refused", "价格只来自价格簿，不接受提交的价格。"),
    ("unknown_field", "表单含有不认识的字段，已拒绝。"),
    ("field_repeated", "表单中同一字段出现了两次，已拒绝。"),
    ("too_many_lines", "商品行数超过上限。"),
    ("no_lines", "订单里没有商品。"),
    ("not_in_basket", "这个商品不在购物车里。"),
    ("invalid_basket_change", "请加入一个商品，或修改一行的数量。"),
    ("no_price", "这个商品还没有价格。"),
    ("member_required", "这项操作需要会员手机号。"),
    ("customer_not_found", "没有这个会员。"),
    ("insufficient_points", "积分不足。"),
    ("redemption_exceeds_total", "抵扣的积分超过了订单金额。"),
    ("wrong_pickup_code", "提货码不正确。"),
    ("pickup_code_locked", "提货码输错次数过多，已锁定：请顾客联系客服。"),
    ("order_not_returnable", "这个订单不能退货。"),
    ("return_exceeds_purchase", "退货数量超过了购买数量。"),
    ("return_window_closed", "已超过退货期限。"),
    ("order_expired", "订单已超时关闭，库存已释放。"),
    ("illegal_transition", "订单当前的状态不允许这一步。"),
    ("payment_amount_mismatch", "支付金额与订单金额不符。"),
    ("price_effective_in_past", "生效时间已经过去：请选择将来的时间。"),
    ("price_effective_too_far", "生效时间太远。"),
    ("price_not_positive", "价格必须大于零。"),
    ("member_price_above_list_price", "会员价不能高于售价。"),
    ("invalid_amount", "金额格式不正确：以元为单位，最多两位小数。"),
    ("invalid_time", "时间格式不正确。"),
    ("invalid_credentials", "用户名或密码不正确。"),
    ("too_many_sign_ins", "登录尝试过多，请稍后再试。"),
    ("too_many_lookups", "这个订单被用错误的手机号查询次数过多，请稍后再试。"),
    ("too_many_orders", "这个网络 15 分钟内下单过多，请稍后再试。"),
    ("unauthenticated", "请先登录。"),
    ("forbidden", "你的账号无权进行这项操作。"),
    ("outside_scope", "这超出了你的账号的权限范围。"),
    ("csrf_token_invalid", "页面已过期：请刷新后重试。"),
    ("idempotency_key_reused", "这个表单已经提交过不同的内容：请刷新后重试。"),
    ("idempotency_key_in_flight", "这个表单正在处理中，请稍候。"),
    ("database_busy", "系统繁忙，请稍后重试。"),
    ("server_busy", "系统繁忙，请稍后重试。"),
    ("route_not_found", "没有这个页面。"),
    ("method_not_allowed", "这个页面不接受这种请求。"),
    ("body_too_large", "提交的内容太大。"),
    ("unsupported_media_type", "请通过页面上的表单提交。"),
    ("invalid_form", "表单无法读取。"),
    ("invalid_text", "文字里有不允许的字符。"),
    ("too_long", "文字太长。"),
    ("invalid_gtin", "条码格式不正确。"),
    ("invalid_gtin_check_digit", "条码校验位不正确。"),
    ("invalid_idempotency_key", "表单已损坏：请刷新后重试。"),
];

impl Lang {
    /// From `?lang=`: `en` is English, anything else Chinese.
    pub(crate) fn from_query(raw: Option<&str>) -> Lang {
        if raw == Some("en") { Lang::En } else { Lang::Zh }
    }

    /// From a page's raw query string (`…&lang=en`).
    pub(crate) fn of_query(raw: Option<&str>) -> Lang {
        Lang::from_query(super::first(&super::fields(raw), "lang"))
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

    /// What the refusal `code` means in this language, where the pages say it in their own
    /// words (English pages show the problem's `detail` alone).
    pub(crate) fn refusal(self, code: &str) -> Option<&'static str> {
        match self {
            Lang::Zh => REFUSALS.iter().find(|(c, _)| *c == code).map(|(_, zh)| *zh),
            Lang::En => None,
        }
    }

    /// A refusal in one line of text: the page's own words for `code`, if any, with `detail`.
    pub(crate) fn said(self, code: &str, detail: &str) -> String {
        self.refusal(code).map_or_else(|| detail.to_owned(), |s| format!("{s}（{detail}）"))
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

    /// Every refusal worded here is a problem code the server has (docs/problems.md lists them).
    #[test]
    fn every_worded_refusal_is_a_real_code() {
        let catalogue = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/problems.md")).unwrap();
        let unknown: Vec<&str> = REFUSALS.iter().map(|(c, _)| *c).filter(|c| !catalogue.contains(&format!("`{c}`"))).collect();
        assert!(unknown.is_empty(), "not in docs/problems.md: {unknown:?}");
    }

    /// Every key the pages' source looks up has its words here.
    #[test]
    fn every_key_the_pages_use_has_words() {
        fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(std::fs::read_to_string(path).unwrap());
                }
            }
        }
        let mut texts = vec![];
        sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pages"), &mut texts);
        let mut missing = vec![];
        for text in &texts {
            for (i, _) in text.match_indices(".t(\"") {
                let key: String = text[i + 4..].chars().take_while(|c| *c != '"').collect();
                if !WORDS.iter().any(|(k, ..)| *k == key) {
                    missing.push(key);
                }
            }
        }
        assert!(missing.is_empty(), "keys without words: {missing:?}");
    }
}
