//! Finding the intercepted instructions of the guest Warden launches: its code is in guest memory
//! only once Warden has put it there, so the machine scans the guest image range the launch contract
//! fixes (`warden_defs::guest_launch`) when the guest first runs.
use unicorn_engine::Unicorn;
use warden_defs::guest_launch::{GUEST_IMAGE_BASE, GUEST_IMAGE_LIMIT};

use crate::intercepts::{self, Site};
use crate::machine::{Event, State};
use crate::memory;

/// Scans the guest image (private plaintext) and hooks its sites.
pub fn hook_guest_sites(uc: &mut Unicorn<'_, State>) -> Result<(), String> {
    let mut code = vec![0u8; (GUEST_IMAGE_LIMIT - GUEST_IMAGE_BASE) as usize];
    memory::read_private(uc, GUEST_IMAGE_BASE, &mut code).map_err(|e| format!("guest image: {e:?}"))?;
    for (address, site) in intercepts::scan(&code, GUEST_IMAGE_BASE, 64) {
        hook(uc, address, site)?;
    }
    Ok(())
}

/// Hooks one site (shared with the machine's own loader path).
pub fn hook(uc: &mut Unicorn<'_, State>, address: u64, site: Site) -> Result<(), String> {
    if uc.get_data().sites.contains_key(&address) {
        return Ok(());
    }
    uc.get_data_mut().sites.insert(address, site);
    uc.add_code_hook(address, address, move |uc, a, _| {
        let s = uc.get_data_mut();
        if s.skip_site == Some(a) {
            s.skip_site = None;
            return;
        }
        s.event = Some(Event::Site(a, site));
        let _ = uc.emu_stop();
    })
    .map(|_| ())
    .map_err(|e| format!("code hook: {e:?}"))
}
