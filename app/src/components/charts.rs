//! The three Informes charts. The server builds them with charming from the report's
//! `series_7d` and sends their ECharts options as JSON; the browser hands each option to the
//! page's ECharts. Keeping charming out of the wasm bundle keeps it small (charming's types
//! would add ~140 KB gzipped).

/// Element ids of the charts, in the order of the options.
pub const CHART_IDS: [&str; 3] = ["chart-leads", "chart-outcomes", "chart-sales"];

#[cfg(feature = "ssr")]
pub use build::chart_options;

#[cfg(feature = "ssr")]
mod build {
    use crate::domain::KpiDay;
    use crate::format::day_month;
    use charming::component::{Axis, Grid, Legend};
    use charming::element::{AxisType, Tooltip, Trigger};
    use charming::series::{Bar, Line};
    use charming::Chart;

    /// ECharts options (JSON) of: leads per day; appointment outcomes per day; sales and
    /// completed treatments per day.
    pub fn chart_options(series: &[KpiDay]) -> Vec<String> {
        build_charts(series)
            .iter()
            .map(|chart| serde_json::to_string(chart).expect("charts serialize"))
            .collect()
    }

    fn build_charts(series: &[KpiDay]) -> [Chart; 3] {
        let column = |pick: fn(&KpiDay) -> i64| series.iter().map(pick).collect::<Vec<i64>>();
        [
            base(series).series(Bar::new().name("Leads").data(column(|d| d.leads))),
            base(series)
                .color(vec!["#0f766e", "#f59e0b", "#94a3b8"])
                .series(
                    Bar::new()
                        .name("Asistidas")
                        .stack("citas")
                        .data(column(|d| d.attended)),
                )
                .series(
                    Bar::new()
                        .name("No presentadas")
                        .stack("citas")
                        .data(column(|d| d.no_show)),
                )
                .series(
                    Bar::new()
                        .name("Canceladas")
                        .stack("citas")
                        .data(column(|d| d.cancelled)),
                ),
            base(series)
                .color(vec!["#2563eb", "#16a34a"])
                .series(
                    Bar::new()
                        .name("Tratamientos vendidos")
                        .data(column(|d| d.treatments)),
                )
                .series(
                    Line::new()
                        .name("Tratamientos completados")
                        .data(column(|d| d.sessions_completed)),
                ),
        ]
    }

    /// What every chart shares: days on the x axis, whole numbers on the y axis, no animation
    /// (the numbers should be readable at once, and tests read them without waiting).
    fn base(series: &[KpiDay]) -> Chart {
        let days: Vec<String> = series.iter().map(|d| day_month(&d.date)).collect();
        Chart::new()
            .animation(false)
            .color(vec!["#0f766e"])
            .tooltip(Tooltip::new().trigger(Trigger::Axis))
            .legend(Legend::new().bottom(0))
            .grid(Grid::new().left(40).right(16).top(16).bottom(76))
            .x_axis(Axis::new().type_(AxisType::Category).data(days))
            .y_axis(Axis::new().type_(AxisType::Value).min_interval(1))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn day(date: &str, n: i64) -> KpiDay {
            KpiDay {
                date: date.into(),
                leads: n,
                appointments: n + 1,
                attended: n + 2,
                no_show: n + 3,
                cancelled: n + 4,
                treatments: n + 5,
                sessions_completed: n + 6,
            }
        }

        #[test]
        fn each_chart_carries_its_series_in_day_order() {
            let series = [day("2025-01-06", 10), day("2025-01-07", 20)];
            let charts: Vec<serde_json::Value> = chart_options(&series)
                .iter()
                .map(|c| serde_json::from_str(c).unwrap())
                .collect();
            assert_eq!(
                charts[0]["xAxis"]["data"],
                serde_json::json!(["06/01", "07/01"])
            );
            assert_eq!(charts[0]["series"][0]["data"], serde_json::json!([10, 20]));
            assert_eq!(charts[1]["series"][0]["data"], serde_json::json!([12, 22]));
            assert_eq!(charts[1]["series"][1]["data"], serde_json::json!([13, 23]));
            assert_eq!(charts[1]["series"][2]["data"], serde_json::json!([14, 24]));
            assert_eq!(charts[2]["series"][0]["data"], serde_json::json!([15, 25]));
            assert_eq!(charts[2]["series"][1]["data"], serde_json::json!([16, 26]));
            assert_eq!(charts[0]["animation"], false);
        }
    }
}

/// Draws (or redraws) the chart in the element `id` with an ECharts option given as JSON.
#[cfg(feature = "hydrate")]
pub fn draw(id: &str, option_json: &str) {
    use wasm_bindgen::JsCast;
    let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
    else {
        return;
    };
    let option = match js_sys::JSON::parse(option_json) {
        Ok(option) => option,
        Err(err) => return leptos::logging::error!("chart {id}: invalid option {err:?}"),
    };
    let existing = echarts::get_instance_by_dom(&element);
    let chart: echarts::Instance = if existing.is_undefined() {
        echarts::init(&element)
    } else {
        existing.unchecked_into()
    };
    chart.set_option(&option, true);
}

/// The slice of ECharts' global API the dashboard uses.
#[cfg(feature = "hydrate")]
mod echarts {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        pub type Instance;

        #[wasm_bindgen(js_namespace = echarts)]
        pub fn init(element: &web_sys::Element) -> Instance;

        #[wasm_bindgen(js_namespace = echarts, js_name = getInstanceByDom)]
        pub fn get_instance_by_dom(element: &web_sys::Element) -> JsValue;

        /// `not_merge`: replace the whole option, so a new filter leaves nothing of the old one.
        #[wasm_bindgen(method, js_name = setOption)]
        pub fn set_option(this: &Instance, option: &JsValue, not_merge: bool);
    }
}
