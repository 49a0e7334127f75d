//! What a run holds between the workers' hand-overs: the inventory handed over so far,
//! merged, or folded with the templates learned so far once it holds more than
//! `--fold-above` endpoints (docs/inventory.md, "Folding"). Replay and live capture both
//! keep their inventories here, so a flood of distinct literal paths costs the same bounded
//! memory in either.

use apitap_inventory::{Inventory, Spec};

/// The inventory handed over so far.
#[derive(Debug)]
pub struct Held {
    /// Everything handed over so far, merged (and folded when it grew past `fold_above`).
    pub base: Inventory,
    /// Endpoints held above which a hand-over folds.
    pub fold_above: usize,
}

impl Held {
    pub fn new(max_endpoints: usize, fold_above: usize) -> Held {
        Held {
            base: Inventory::new(max_endpoints),
            fold_above,
        }
    }

    /// Add what the workers handed over: merged, or folded when the two together hold more
    /// than `fold_above` endpoints. Below it, any sequence of hand-overs gives the inventory
    /// that one hand-over of everything would.
    pub fn add(&mut self, new: Inventory, spec: Option<&Spec>) {
        // After a fold, what fits a template learned there joins it at once: a flood keeps
        // joining the templates it made, without another fold.
        let new = if self.base.folds > 0 {
            apitap_inventory::fold_into(&mut self.base, new)
        } else {
            new
        };
        if self.base.endpoints.len() + new.endpoints.len() > self.fold_above {
            let base = std::mem::take(&mut self.base);
            self.base = apitap_inventory::fold(base, new, spec);
            tracing::info!(
                endpoints = self.base.endpoints.len(),
                folds = self.base.folds,
                "inventory folded with the templates learned so far"
            );
        } else {
            // Taken, not copied: the first hand-over becomes what is held.
            self.base.absorb(new);
        }
    }
}
