//! Amazon SNS: notifications and alerts (`Publish`), sized to fit one message.
//!
//! API reference: <https://docs.aws.amazon.com/sns/latest/api/API_Publish.html> (message up to
//! 256 KiB, subject up to 100 ASCII characters).

use aws_sdk_sns::types::MessageAttributeValue;

use super::AwsError;

/// `Publish` to the notification topic, with `String` message attributes subscribers can filter on.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    subject: &str,
    message: &str,
    attributes: &[(&str, &str)],
) -> Result<(), AwsError> {
    let mut req = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(truncate(subject, 100))
        .message(message);
    for (k, v) in attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*v)
            .build()
            .map_err(|e| AwsError::new("Publish", e))?;
        req = req.message_attributes(*k, attr);
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("Publish", e.into_service_error()))
}

/// Largest SNS message body, in bytes (256 KiB).
pub const SNS_MAX_MESSAGE_BYTES: usize = 262_144;

/// An alert's JSON body `{"event", "alerts": [...], "omitted": n, "summary"}` that fits in one SNS
/// message: alerts are added while the whole stays under 200 KiB, and the rest are counted in
/// `omitted` (the function's own report has them all).
pub fn alert_message(event: &str, alerts: &[String], summary: serde_json::Value) -> String {
    const BUDGET: usize = 200 * 1024;
    let mut used = summary.to_string().len() + event.len() + 64;
    let mut kept = Vec::new();
    for a in alerts {
        used += a.len() + 4;
        if used > BUDGET {
            break;
        }
        kept.push(a.as_str());
    }
    serde_json::json!({
        "event": event,
        "alerts": kept,
        "omitted": alerts.len() - kept.len(),
        "summary": summary,
    })
    .to_string()
}

/// Publish one alert of a scheduled job (`snapshot-copy`, `retention`): subject
/// `pilotlight JOB: N alert(s)`, the body of [`alert_message`], attributes `event=JOB` and
/// `outcome=alert`. Nothing is published when `alerts` is empty.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn publish_alert(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    job: &str,
    alerts: &[String],
    summary: serde_json::Value,
) -> Result<(), AwsError> {
    if alerts.is_empty() {
        return Ok(());
    }
    tracing::warn!(job, alerts = alerts.len(), "alerts");
    let subject = format!("pilotlight {job}: {} alert(s)", alerts.len());
    let message = alert_message(job, alerts, summary);
    let attrs = [("event", job), ("outcome", "alert")];
    publish(sns, topic_arn, &subject, &message, &attrs).await
}

/// SNS subjects are at most 100 ASCII characters.
fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_with_thousands_of_lines_still_fits_in_one_sns_message() {
        let alerts: Vec<String> = (0..10_000)
            .map(|i| {
                format!(
                    "`db{i:05}` in `us-west-2`: no available copy yet {}",
                    "x".repeat(60)
                )
            })
            .collect();
        let msg = alert_message(
            "snapshot-copy",
            &alerts,
            serde_json::json!({"databases": 10_000}),
        );
        assert!(msg.len() < SNS_MAX_MESSAGE_BYTES, "{}", msg.len());
        let v: serde_json::Value = serde_json::from_str(&msg).unwrap_or_default();
        let kept = v["alerts"].as_array().map(Vec::len).unwrap_or(0);
        assert!(kept > 1000);
        assert_eq!(v["omitted"].as_u64(), Some((10_000 - kept) as u64));
    }
}
