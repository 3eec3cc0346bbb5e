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
    /// How long a run's lease on a database lasts without renewal, in seconds (default 60, 3 to
    /// 900). A run renews it every third of this while it lives, so a run that is killed (a
    /// timeout, an out-of-memory kill) frees the database at most this long after its last
    /// renewal; it also absorbs clock skew between Lambda hosts.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
}

fn default_lease_seconds() -> u64 {
    60
}

/// Check `ledger`: DynamoDB's table-name rule
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>),
/// and a lease between 3 s and 15 minutes.
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
    if !(3..=900).contains(&l.lease_seconds) {
        return Err(invalid(
            "ledger.lease_seconds",
            format!("{} is outside 3..=900", l.lease_seconds),
        ));
    }
    Ok(())
}
