//! CloudWatch metrics through the Embedded Metric Format: one JSON line on stdout per datapoint,
//! which CloudWatch Logs turns into a metric in the `Pilotlight` namespace without an API call
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of pilotlight's metrics.
pub const NAMESPACE: &str = "Pilotlight";

/// The EMF document for one datapoint: `name` = `value` in `unit` (`Seconds`, `Count`, ...) with
/// the given dimensions.
pub fn document(
    name: &str,
    value: f64,
    unit: &str,
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).to_owned(), Value::from(*v));
    }
    doc.insert(name.to_owned(), json!(value));
    Value::Object(doc)
}

/// Print one EMF line for `name` now.
pub fn emit(name: &str, value: f64, unit: &str, dimensions: &[(&str, &str)]) {
    let now = chrono::Utc::now().timestamp_millis();
    println!("{}", document(name, value, unit, dimensions, now));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_document_names_its_metric_dimensions_and_value() {
        let d = document(
            "RPOExposureSeconds",
            42.0,
            "Seconds",
            &[("Database", "orders"), ("Region", "us-west-2")],
            1,
        );
        assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Pilotlight");
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Database", "Region"])
        );
        assert_eq!(d["RPOExposureSeconds"], 42.0);
        assert_eq!(d["Region"], "us-west-2");
    }
}
