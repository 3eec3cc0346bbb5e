//! `drill`: how the DR drill restores a database's newest DR snapshot copy into a temporary DB
//! instance (`RestoreDBInstanceFromDBSnapshot`), validates it and deletes it.
//!
//! JSON (every field optional): `{"instance_class": "db.t3.micro", "subnet_groups": {"us-west-2":
//! "dr-private"}, "security_groups": {"us-west-2": ["sg-0123456789abcdef0"]},
//! "validation_function": "arn:aws:lambda:us-west-2:123456789012:function:orders-drill-check",
//! "max_restore_seconds": 14400}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::Region;
use super::{invalid, ConfigError};

/// Settings of the snapshot-restore drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillSettings {
    /// `DBInstanceClass` of the temporary instance (default `db.t3.micro`: small, and offered
    /// for every engine RDS snapshots come from; a class the engine does not offer fails the
    /// restore, and the drill reports it).
    pub instance_class: String,
    /// `DBSubnetGroupName` per DR region (a private subnet group). Absent: RDS uses the default
    /// VPC's default subnet group, as `RestoreDBInstanceFromDBSnapshot` documents.
    pub subnet_groups: BTreeMap<Region, String>,
    /// `VpcSecurityGroupIds` per DR region (1 to 5 `sg-` ids). Absent: the VPC's default security
    /// group.
    pub security_groups: BTreeMap<Region, Vec<String>>,
    /// ARN of a Lambda function that validates the restored instance (the role may invoke only
    /// it): invoked
    /// synchronously with `{"database", "drill_id", "db_instance_identifier", "endpoint":
    /// {"address", "port"}, "engine", "engine_version", "snapshot_id"}`; its JSON answer
    /// `{"passed": bool, "detail": "..."}` is the verdict. Absent: the drill passes when the
    /// instance becomes `available`.
    pub validation_function: Option<String>,
    /// Seconds a restore may take before the drill gives up, deletes the instance and fails
    /// (default 14,400: 4 h; 600 to 86,400).
    pub max_restore_seconds: u64,
}

impl Default for DrillSettings {
    fn default() -> Self {
        Self {
            instance_class: "db.t3.micro".into(),
            subnet_groups: BTreeMap::new(),
            security_groups: BTreeMap::new(),
            validation_function: None,
            max_restore_seconds: 14_400,
        }
    }
}

/// Check `drill`: a `db.` class, non-empty subnet group names, 1 to 5 `sg-` ids per region, a
/// non-empty validation function, a restore limit within 600..=86,400 s.
pub(super) fn validate(d: &DrillSettings) -> Result<(), ConfigError> {
    if !d.instance_class.starts_with("db.") || d.instance_class.len() < 5 {
        return Err(invalid(
            "drill.instance_class",
            format!(
                "`{}` is not a DB instance class (db.t3.micro, db.r6g.large, ...)",
                d.instance_class
            ),
        ));
    }
    if let Some((region, _)) = d.subnet_groups.iter().find(|(_, g)| g.is_empty()) {
        return Err(invalid(
            format!("drill.subnet_groups.{region}"),
            "must not be empty",
        ));
    }
    for (region, groups) in &d.security_groups {
        let well_formed = |g: &String| {
            g.strip_prefix("sg-").is_some_and(|h| {
                (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit())
            })
        };
        if groups.is_empty() || groups.len() > 5 {
            return Err(invalid(
                format!("drill.security_groups.{region}"),
                "give 1 to 5 security group ids",
            ));
        }
        if let Some(bad) = groups.iter().find(|g| !well_formed(g)) {
            return Err(invalid(
                format!("drill.security_groups.{region}"),
                format!("`{bad}` is not a security group id (sg- and 8 or 17 hex digits)"),
            ));
        }
    }
    if let Some(f) = d.validation_function.as_deref() {
        // the role may invoke exactly this function (`DrillValidationFunctionArn`): an ARN
        let parts: Vec<&str> = f.split(':').collect();
        let arn = parts.len() >= 7
            && parts[0] == "arn"
            && parts[2] == "lambda"
            && !parts[3].is_empty()
            && parts[5] == "function"
            && !parts[6].is_empty();
        if !arn {
            return Err(invalid(
                "drill.validation_function",
                format!("`{f}` is not a Lambda function ARN (arn:<partition>:lambda:<region>:<account>:function:<name>); leave it out for no validation"),
            ));
        }
    }
    if !(600..=86_400).contains(&d.max_restore_seconds) {
        return Err(invalid(
            "drill.max_restore_seconds",
            "must be within 600..=86400",
        ));
    }
    Ok(())
}
