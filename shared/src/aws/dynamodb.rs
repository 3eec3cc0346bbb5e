//! DynamoDB: the operations ledger's table ([`crate::ledger`] gives the items and the lease
//! algorithm). Calls: `UpdateItem` (the lease, its renewal, the detection counter, a stale
//! pointer cleared), `GetItem` (strongly consistent reads of the state and of an operation),
//! `TransactWriteItems` (an operation and the state's pointer to it, together, conditioned on the
//! lease and the writer's fencing token; IAM authorises its `PutItem` and `UpdateItem`:
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>),
//! `Query` (`history`).
//!
//! Items are (de)serialized with `serde_dynamo`; a conditional write that fails
//! (`ConditionalCheckFailedException`) is a domain outcome, never an error.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::AwsError;
use crate::ledger::{
    pk, DatabaseState, Lease, LeaseHolder, LeaseOutcome, Operation, OperationState,
    OPERATION_PREFIX, STATE_SK,
};

/// The ledger table and its client (in the region the functions run in).
#[derive(Debug, Clone)]
pub struct Ledger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(database: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk(database))), ("sk".to_owned(), s(sk))])
}

fn from_item<T: DeserializeOwned>(operation: &'static str, item: Item) -> Result<T, AwsError> {
    serde_dynamo::from_item(item).map_err(|e| {
        AwsError::unusable(
            operation,
            format!("a ledger item has an unexpected shape: {e}"),
        )
    })
}

/// The transaction was cancelled with a `reason` among its cancellation reasons
/// (`TransactionCanceledException`): `ConditionalCheckFailed` (a condition failed),
/// `TransactionConflict` (a concurrent write to one of its items).
fn cancelled_with(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
    reason: &str,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some(reason)),
        _ => false,
    }
}

/// The SDK error is a failed condition (`ConditionalCheckFailedException`).
fn condition_failed<E>(err: &SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

impl Ledger {
    /// The ledger in `table`, through `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Take `database`'s lease for `owner` until `until`, unless another owner holds one that has
    /// not expired at `now`. See [`crate::ledger`] for the algorithm.
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses (not when the lease is held).
    pub async fn acquire(
        &self,
        database: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<LeaseOutcome, AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(database, STATE_SK)))
            .update_expression(
                "SET lease_owner = :owner, lease_expires_at_ms = :until, lease_acquired_at = :at, \
                 lease_token = if_not_exists(lease_token, :zero) + :one",
            )
            .condition_expression("attribute_not_exists(lease_owner) OR lease_expires_at_ms < :now")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.timestamp_millis()))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":at", s(now.to_rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let state: DatabaseState =
                    from_item("UpdateItem", out.attributes.unwrap_or_default())?;
                Ok(LeaseOutcome::Acquired(
                    Lease {
                        database: database.to_owned(),
                        owner: owner.to_owned(),
                        token: state.lease_token,
                        expires_at: until,
                    },
                    state,
                ))
            }
            Err(e) if condition_failed(&e) => {
                let state = self.state(database).await?;
                Ok(LeaseOutcome::Held(LeaseHolder::of(&state)))
            }
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    /// Give the lease back (it stays with a newer holder if ours expired meanwhile).
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer; the lease then expires by itself.
    pub async fn release(&self, lease: &Lease) -> Result<(), AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&lease.database, STATE_SK)))
            .update_expression(
                "REMOVE lease_owner, lease_acquired_at SET lease_expires_at_ms = :zero",
            )
            .condition_expression("lease_owner = :owner AND lease_token = :token")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":token", n(lease.token))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => {
                tracing::warn!(database = %lease.database, token = lease.token, "the lease had expired and was taken over before this run released it");
                Ok(())
            }
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    /// Extend `lease` to `until`: `Ok(false)` when it is no longer this run's (it expired and was
    /// taken over).
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn renew(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool, AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&lease.database, STATE_SK)))
            .update_expression("SET lease_expires_at_ms = :until")
            .condition_expression("lease_owner = :owner AND lease_token = :token")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":token", n(lease.token))
            .expression_attribute_values(":until", n(until.timestamp_millis()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    /// Clear `database`'s pointer when it still names `sk` (an operation found closed: a write
    /// that closed it and failed to clear the pointer). Harmless without the lease: it only ever
    /// removes a pointer to a closed operation.
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn clear_pointer(&self, database: &str, sk: &str) -> Result<(), AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(database, STATE_SK)))
            .update_expression("REMOVE open_operation")
            .condition_expression("open_operation = :sk")
            .expression_attribute_values(":sk", s(sk))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    /// `database`'s state item (strongly consistent; the default when there is none).
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn state(&self, database: &str) -> Result<DatabaseState, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(database, STATE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem", e))?;
        match out.item {
            Some(item) => from_item("GetItem", item),
            None => Ok(DatabaseState::default()),
        }
    }

    /// The operation `sk` of `database` (strongly consistent), if it exists.
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses, or the item has another shape.
    pub async fn operation(&self, database: &str, sk: &str) -> Result<Option<Operation>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(database, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem", e))?;
        out.item.map(|i| from_item("GetItem", i)).transpose()
    }

    /// Write `op` under `lease`, and point the database's state at it while it is open (clear the
    /// pointer once it is closed), in one transaction: both or neither. It is refused when this
    /// run no longer holds the lease, or a run with a newer token wrote the operation: `Ok(false)`;
    /// this run must stop acting.
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn save(&self, lease: &Lease, op: &Operation) -> Result<bool, AwsError> {
        let mut op = op.clone();
        op.lease_token = lease.token;
        let item: Item = serde_dynamo::to_item(&op).map_err(|e| {
            AwsError::unusable(
                "TransactWriteItems",
                format!("the operation cannot be written: {e}"),
            )
        })?;
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            AwsError::unusable("TransactWriteItems", e.to_string())
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk) OR lease_token <= :token")
            .expression_attribute_values(":token", n(lease.token))
            .build()
            .map_err(build)?;
        let pointer = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&lease.database, STATE_SK)))
            .condition_expression("lease_owner = :owner AND lease_token = :token")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":token", n(lease.token));
        let pointer = if op.state == OperationState::Open {
            pointer
                .update_expression("SET open_operation = :sk")
                .expression_attribute_values(":sk", s(&op.sk))
        } else {
            pointer.update_expression("REMOVE open_operation")
        }
        .build()
        .map_err(build)?;
        // A concurrent write to the state item (this run's own lease renewal) cancels the
        // transaction with `TransactionConflict`: tried again, a few times
        // (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling>).
        let mut attempt = 0;
        loop {
            attempt += 1;
            let out = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .transact_items(TransactWriteItem::builder().update(pointer.clone()).build())
                .send()
                .await;
            match out {
                Ok(_) => return Ok(true),
                Err(e) if cancelled_with(&e, "ConditionalCheckFailed") => return Ok(false),
                Err(e) if cancelled_with(&e, "TransactionConflict") && attempt < 4 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(AwsError::from_sdk("TransactWriteItems", e)),
            }
        }
    }

    /// The last `limit` operations of `database`, newest first (one `Query`, strongly consistent).
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses, or an item has another shape.
    pub async fn history(&self, database: &str, limit: u32) -> Result<Vec<Operation>, AwsError> {
        let mut operations = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let left = limit as usize - operations.len().min(limit as usize);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk(database)))
                .expression_attribute_values(":prefix", s(OPERATION_PREFIX))
                .scan_index_forward(false)
                .consistent_read(true)
                .limit(i32::try_from(left).unwrap_or(100))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("Query", e))?;
            for item in out.items.unwrap_or_default() {
                operations.push(from_item("Query", item)?);
            }
            // a page ends at 1 MB: go on until `limit` or the last page
            match out.last_evaluated_key {
                Some(k) if operations.len() < limit as usize && !k.is_empty() => start = Some(k),
                _ => return Ok(operations),
            }
        }
    }

    /// Count one more reconcile pass that saw `database`'s primary region not answering and its
    /// replica not replicating (`seen`), at most one per minute (overlapping passes and Lambda's
    /// retries of a pass count once), or reset the count (`!seen`). Returns the count and the
    /// first pass of the run.
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn count_unreachable(
        &self,
        database: &str,
        seen: bool,
        now: DateTime<Utc>,
    ) -> Result<(u32, Option<DateTime<Utc>>), AwsError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(database, STATE_SK)))
            .return_values(ReturnValue::AllNew);
        let update = if seen {
            update
                .update_expression(
                    "SET unreachable_passes = if_not_exists(unreachable_passes, :zero) + :one, \
                     unreachable_since = if_not_exists(unreachable_since, :now), \
                     unreachable_minute = :minute",
                )
                .condition_expression(
                    "attribute_not_exists(unreachable_minute) OR unreachable_minute < :minute",
                )
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", s(now.to_rfc3339()))
                .expression_attribute_values(":minute", n(now.timestamp() / 60))
        } else {
            update
                .update_expression(
                    "SET unreachable_passes = :zero REMOVE unreachable_since, unreachable_minute",
                )
                .expression_attribute_values(":zero", n(0))
        };
        let state: DatabaseState = match update.send().await {
            Ok(out) => from_item("UpdateItem", out.attributes.unwrap_or_default())?,
            // counted already this minute
            Err(e) if condition_failed(&e) => self.state(database).await?,
            Err(e) => return Err(AwsError::from_sdk("UpdateItem", e)),
        };
        Ok((state.unreachable_passes, state.unreachable_since))
    }
}

/// What [`Ledger::gate_enter`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateOutcome {
    /// The gate was free: this caller starts the run, which holds it until `until` (or
    /// [`Ledger::gate_leave`]).
    Entered,
    /// A run holds it: the request is queued (one flag, however many requests): the run in
    /// flight runs once more before it leaves. Holder and expiry are given.
    Queued {
        /// Who holds the gate.
        holder: String,
        /// Until when (UTC, milliseconds since the epoch).
        until_ms: i64,
    },
}

/// The gate's item: `pk` `job#<job>`, `sk` `gate`.
fn gate_key(job: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("job#{job}"))),
        ("sk".to_owned(), s("gate")),
    ])
}

impl Ledger {
    /// Coalesce requests for `job` (e.g. `snapshot-copy` from a burst of RDS events): at most one
    /// run in flight and one queued. One `UpdateItem`: enter when no run holds the gate (or the
    /// holder's `until` passed: a run that died), else set `queued` (a second `UpdateItem`).
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn gate_enter(
        &self,
        job: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<GateOutcome, AwsError> {
        // enter, or queue behind the holder; if the holder left between the two writes, enter
        // again (bounded: a gate that changes hands this fast is entered by someone)
        for _ in 0..3 {
            let entered = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(gate_key(job)))
                .update_expression("SET gate_owner = :me, gate_until_ms = :until REMOVE queued")
                .condition_expression("attribute_not_exists(gate_owner) OR gate_until_ms < :now")
                .expression_attribute_values(":me", s(owner))
                .expression_attribute_values(":until", n(until.timestamp_millis()))
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .send()
                .await;
            match entered {
                Ok(_) => return Ok(GateOutcome::Entered),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(AwsError::from_sdk("UpdateItem", e)),
            }
            // queue only behind a holder that is still there: never a flag on a free gate
            let queued = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(gate_key(job)))
                .update_expression("SET queued = :yes")
                .condition_expression("attribute_exists(gate_owner) AND gate_until_ms >= :now")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .send()
                .await;
            let item = match queued {
                Ok(out) => out.attributes().cloned().unwrap_or_default(),
                Err(e) if condition_failed(&e) => continue,
                Err(e) => return Err(AwsError::from_sdk("UpdateItem", e)),
            };
            return Ok(GateOutcome::Queued {
                holder: item
                    .get("gate_owner")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default(),
                until_ms: item
                    .get("gate_until_ms")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_default(),
            });
        }
        Ok(GateOutcome::Entered)
    }

    /// Give the gate of `job` up without taking a queued request (a run that failed, or ran out
    /// of time, or an invocation that could not be made): the next event enters it at once.
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn gate_release(&self, job: &str, owner: &str) -> Result<(), AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(gate_key(job)))
            .update_expression("REMOVE gate_owner, gate_until_ms")
            .condition_expression("gate_owner = :me")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    /// The run of `owner` is done with a pass: leave the gate (`Ok(false)`) unless a request was
    /// queued meanwhile, in which case the flag is cleared and the run must pass once more
    /// (`Ok(true)`). Atomic: a request queued between the check and the leave is never lost.
    /// A gate `owner` no longer holds (it expired and another run entered) is left alone.
    ///
    /// # Errors
    /// [`AwsError`] when DynamoDB does not answer or refuses.
    pub async fn gate_leave(&self, job: &str, owner: &str) -> Result<bool, AwsError> {
        let left = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(gate_key(job)))
            .update_expression("REMOVE gate_owner, gate_until_ms")
            .condition_expression("gate_owner = :me AND attribute_not_exists(queued)")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match left {
            Ok(_) => return Ok(false),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(AwsError::from_sdk("UpdateItem", e)),
        }
        // queued (or no longer ours): take the queued request, if it is still ours
        let took = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(gate_key(job)))
            .update_expression("REMOVE queued")
            .condition_expression("gate_owner = :me AND queued = :yes")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match took {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }
}
