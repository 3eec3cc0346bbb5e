//! The statuses AWS reports, as enums parsed once in the adapter: the values pilotlight acts on,
//! and `Other` for the rest, kept verbatim so that reports show what AWS said. In JSON each is the
//! AWS string (`"available"`, `"ALARM"`), so reports read as AWS's own documents do.

/// Define an enum over AWS status strings, with `Other(String)` for any value not listed.
macro_rules! aws_status {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// Any other value, verbatim.
            Other(String),
        }

        impl $name {
            /// The AWS string.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self::from(s.as_str())
            }
        }

        impl From<$name> for String {
            fn from(s: $name) -> String {
                s.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_status! {
    /// `DBInstanceStatus` of `DescribeDBInstances`
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html#Overview.DBInstance.Status>).
    InstanceStatus {
        /// `available`: serving, and the only status in which a replica may be promoted.
        Available = "available",
        /// `backing-up`: RDS takes a backup (also during a promotion of a replica without one).
        BackingUp = "backing-up",
        /// `modifying`: a modification (a promotion among them) is being applied.
        Modifying = "modifying",
        /// `rebooting`: promotion reboots the instance.
        Rebooting = "rebooting",
        /// `creating`.
        Creating = "creating",
    }
}

aws_status! {
    /// `Status` of `DescribeDBSnapshots` / `DescribeDBClusterSnapshots`.
    SnapshotStatus {
        /// `available`: complete, restorable, copyable, deletable.
        Available = "available",
        /// `creating`.
        Creating = "creating",
        /// `copying`: a cross-region copy in flight (counts against the copy limit).
        Copying = "copying",
        /// `pending`: a copy waiting to start (counts against the copy limit).
        Pending = "pending",
    }
}

aws_status! {
    /// A CloudWatch alarm's `StateValue` (`DescribeAlarms`, SNS notifications' `NewStateValue`,
    /// EventBridge `detail.state.value`).
    AlarmStateValue {
        /// `ALARM`.
        Alarm = "ALARM",
        /// `OK`.
        Ok = "OK",
        /// `INSUFFICIENT_DATA`.
        InsufficientData = "INSUFFICIENT_DATA",
    }
}

impl SnapshotStatus {
    /// A copy still in progress (`copying`, `pending`): it counts against the 20 copies in flight
    /// per destination region
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CopySnapshot.html>).
    pub fn is_copy_in_flight(&self) -> bool {
        matches!(self, Self::Copying | Self::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_and_writes_the_aws_string_and_keeps_unknown_values() {
        assert_eq!(
            InstanceStatus::from("backing-up"),
            InstanceStatus::BackingUp
        );
        let odd = InstanceStatus::from("storage-optimization");
        assert_eq!(odd.to_string(), "storage-optimization");
        let json = serde_json::to_string(&AlarmStateValue::InsufficientData).unwrap_or_default();
        assert_eq!(json, "\"INSUFFICIENT_DATA\"");
        let back: Option<SnapshotStatus> = serde_json::from_str("\"copying\"").ok();
        assert!(back.is_some_and(|s| s.is_copy_in_flight()));
    }
}
