//! `rtr_request_info` and `rtr_set_info`: the node's management views and
//! partition changes through the channel API.
//!
//! Both calls open an *information channel*: a channel of this connection
//! that the node never hears of and whose messages the library queues
//! itself. The work is done inside the call: one management request to the
//! node (through the embedded node's admin entry, or a short admin
//! connection to the node daemon, the same requests `rtr show` and `rtr set
//! partition` send), bounded by the node's admin wait of about 10 s. Its
//! answer is queued on the new channel before the call returns, through the
//! same path as the node's deliveries, so receivers, the wakeup routine and
//! the wakeup descriptor see it like any other message:
//! - `rtr_request_info`: one `rtr_mt_request_info` per selected object,
//!   then `rtr_mt_closed`;
//! - `rtr_set_info`: one `rtr_mt_closed` whose status says how it went.
//!
//! A failure after the arguments were checked (the node cannot be reached,
//! the partition does not exist, ...) is the status of that
//! `rtr_mt_closed`, as the manuals describe, not the call's return value.
//! After `rtr_mt_closed` the channel behaves like any channel RTR closed:
//! only `rtr_close_channel` remains.

use std::sync::Arc;

use super::{deliver_to, new_channel, Chan, Rtr};
use crate::error::{Result, RtrError};
use crate::info_class::Query;
use crate::msgtype::MsgType;
use crate::protocol::admin::{AdminError, AdminReply, AdminRequest, PartitionChange};
use crate::protocol::{ChanId, Delivery, Payload};
use crate::qualifier::{check_call, PartitionSet, QualValue};
use crate::status::Status;

impl Rtr {
    /// Start an information query (`rtr_request_info`): the objects of class
    /// `infcla` whose item `selitm` equals `selval` (without regard to ASCII
    /// case; `selitm` empty or `*`: every object), each as one
    /// `rtr_mt_request_info` message holding the items named in `getitms`
    /// (comma-separated; empty or `*`: every item of the class) as
    /// `item=value` lines joined by `\n` and ended by a NUL. Then
    /// `rtr_mt_closed` with status OK, its reason the number of objects the
    /// node's view left out (views are capped at 2000 objects; normally 0),
    /// or with the status of the failure ([`AdminError::status`]).
    ///
    /// Returns the new channel. Fails (opening nothing) with INVFLAGS,
    /// INVSELITM (unknown class or item, selection value too long),
    /// TOOMANYCHN or NODEUNAVAIL. Classes and items:
    /// [`crate::info_class::CLASSES`].
    pub fn request_info(&self, fl: u32, infcla: &str, selitm: &str, selval: &str, getitms: &str) -> Result<ChanId> {
        if fl != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_request_info", flags: fl });
        }
        let query = Query::parse(infcla, selitm, selval, getitms)?;
        let chan = self.open_info_channel()?;
        let mut batch = Vec::new();
        let (status, reason) = match query.answer(self.ask_node(query.request())) {
            Ok((records, omitted)) => {
                for r in records {
                    let mut data = r.into_bytes();
                    data.push(0);
                    batch.push(Delivery {
                        chan,
                        msgtype: MsgType::RequestInfo,
                        tid: None,
                        evtnum: 0,
                        payload: Payload::Data(Arc::from(data)),
                        fence: 0,
                    });
                }
                (Status::Ok, u32::try_from(omitted).unwrap_or(u32::MAX))
            }
            Err(e) => (e.status(), 0),
        };
        batch.push(closed(chan, status, reason));
        deliver_to(&self.inner.state, &self.inner.arrivals, batch);
        Ok(chan)
    }

    /// Change a partition (`rtr_set_info`): `verb` must be `verb_set` and
    /// `object` `rtr_partition_object`; `select` names the partition
    /// (`rtr_facility_name`, `rtr_partition_name`), `set` says what to
    /// change (see [`crate::qualifier::QUALIFIERS`]). The changes are
    /// applied in the order given, stopping at the first the node refuses
    /// (those before it stay applied). One `rtr_mt_closed` follows on the
    /// returned channel: status OK, or the refusal's ([`AdminError::status`]).
    ///
    /// Fails (opening nothing, changing nothing) with INVFLAGS, INVOBJCT,
    /// INVSELITM, INVFACNAM, INVQUALIFIER, UNSUPPORTED, TOOMANYCHN or
    /// NODEUNAVAIL.
    pub fn set_info(
        &self,
        fl: u32,
        verb: u32,
        object: u32,
        select: &[(u32, QualValue)],
        set: &[(u32, QualValue)],
    ) -> Result<ChanId> {
        check_call(fl, verb, object)?;
        let target = PartitionSet::parse(select, set)?;
        let chan = self.open_info_channel()?;
        let status = self.apply(&target);
        deliver_to(&self.inner.state, &self.inner.arrivals, vec![closed(chan, status, 0)]);
        Ok(chan)
    }

    /// Carry out a checked `rtr_set_info`; the status its `rtr_mt_closed` carries.
    fn apply(&self, target: &PartitionSet) -> Status {
        if target.changes.is_empty() {
            // Only accepted no-op qualifiers: the partition must still exist.
            return match self.ask_node(AdminRequest::ShowPartition) {
                AdminReply::Partitions { rows, .. } => {
                    if rows.iter().any(|p| p.id == target.id && p.facility.eq_ignore_ascii_case(&target.facility)) {
                        Status::Ok
                    } else {
                        Status::Invobjct
                    }
                }
                AdminReply::Failed(e) => e.status(),
                _ => Status::Internal,
            };
        }
        for change in &target.changes {
            let req = AdminRequest::SetPartition {
                facility: target.facility.clone(),
                id: target.id,
                change: PartitionChange::clone(change),
            };
            match self.ask_node(req) {
                AdminReply::Done { .. } => {}
                AdminReply::Failed(e) => return e.status(),
                _ => return Status::Internal,
            }
        }
        Status::Ok
    }

    fn open_info_channel(&self) -> Result<ChanId> {
        let mut st = self.lock()?;
        if st.node_gone {
            return Err(RtrError::NodeUnavailable("the node stopped".into()));
        }
        new_channel(&mut st, Chan::new_info())
    }

    /// One management request to this connection's node, and its answer.
    /// A node that cannot be reached answers [`AdminError::NodeUnavailable`].
    fn ask_node(&self, req: AdminRequest) -> AdminReply {
        match (&self.inner.node, &self.inner.socket) {
            (Some(node), _) => node.admin(req),
            (None, Some(path)) => crate::transport::unix::ask_admin(path, req)
                .unwrap_or_else(|e| AdminReply::Failed(AdminError::NodeUnavailable(e.to_string()))),
            (None, None) => AdminReply::Failed(AdminError::Internal("connection without a node".into())),
        }
    }
}

fn closed(chan: ChanId, status: Status, reason: u32) -> Delivery {
    Delivery {
        chan,
        msgtype: MsgType::Closed,
        tid: None,
        evtnum: 0,
        payload: Payload::Status { status, reason },
        fence: 0,
    }
}
