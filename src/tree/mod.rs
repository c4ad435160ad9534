//! (being built: temporary stub until the tree branch lands)
use std::sync::Arc;
/// stub
pub enum TreeEvent { /** c */ Created(Arc<str>), /** d */ Deleted(Arc<str>), /** m */ DataChanged(Arc<str>), /** ch */ ChildrenChanged(Arc<str>) }
