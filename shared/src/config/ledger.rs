//! `ledger`: the operations ledger, a DynamoDB table in the region pilotlight runs in.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// The operations ledger (see [`crate::ledger`]): `{"table_name": "pilotlight-ledger"}`.
///
/// The table (keys `pk`, `sk`, both strings) is created by `infra/sam` and `infra/terraform` as
/// `<NamePrefix>-ledger`, in the region the functions run in (the SDK's region, `AWS_REGION`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSettings {
    /// The DynamoDB table's name (3–255 of `[A-Za-z0-9_.-]`).
    pub table_name: String,
    /// Seconds a run's lease on a database outlives the run's own deadline, in seconds (default
    /// 60): room for the run's last ledger write and notification after the deadline, and for
    /// clock skew between Lambda hosts. A run that is killed holds the database this much longer.
    #[serde(default = "default_lease_margin")]
    pub lease_margin_seconds: u64,
}

fn default_lease_margin() -> u64 {
    60
}

/// Check `ledger`: DynamoDB's table-name rule
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>),
/// and a lease margin between 1 s and 15 minutes.
pub(super) fn validate(l: &LedgerSettings) -> Result<(), ConfigError> {
    let name_ok = (3..=255).contains(&l.table_name.len())
        && l.table_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        return Err(invalid(
            "ledger.table_name",
            format!(
                "`{}` is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ - .)",
                l.table_name
            ),
        ));
    }
    if !(1..=900).contains(&l.lease_margin_seconds) {
        return Err(invalid(
            "ledger.lease_margin_seconds",
            format!("{} is outside 1..=900", l.lease_margin_seconds),
        ));
    }
    Ok(())
}
