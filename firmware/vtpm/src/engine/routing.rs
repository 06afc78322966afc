//! Routing: which command function runs each command code of the table (Part 3 chapters).

use crate::Tpm;
use crate::commands::{
    asymmetric, attestation, capability, clocks, context, da, duplication, enhanced_auth, hash_hmac,
    hierarchy, integrity, nv, object, random, session, signing, startup, symmetric, testing,
};
use crate::engine::command::Cmd;
use crate::wire::constants::cc;
use crate::wire::response_code::{Rc, TpmResult};

/// Runs the command `code` names. Every code of `command_table::COMMANDS` has an arm here (checked by
/// a test); any other code is TPM_RC_COMMAND_CODE, which the dispatcher has already answered.
pub(crate) fn run(tpm: &mut Tpm, code: u32, c: &mut Cmd<'_>) -> TpmResult<()> {
    match code {
        cc::EVICT_CONTROL => context::evict_control(tpm, c),
        cc::HIERARCHY_CONTROL => hierarchy::hierarchy_control(tpm, c),
        cc::NV_UNDEFINE_SPACE => nv::undefine_space(tpm, c),
        cc::CLEAR => hierarchy::clear(tpm, c),
        cc::CLEAR_CONTROL => hierarchy::clear_control(tpm, c),
        cc::CLOCK_SET => clocks::clock_set(tpm, c),
        cc::HIERARCHY_CHANGE_AUTH => hierarchy::change_auth(tpm, c),
        cc::NV_DEFINE_SPACE => nv::define_space(tpm, c),
        cc::SET_PRIMARY_POLICY => hierarchy::set_primary_policy(tpm, c),
        cc::CLOCK_RATE_ADJUST => clocks::clock_rate_adjust(tpm, c),
        cc::CREATE_PRIMARY => hierarchy::create_primary(tpm, c),
        cc::NV_GLOBAL_WRITE_LOCK => nv::global_write_lock(tpm, c),
        cc::NV_INCREMENT => nv::increment(tpm, c),
        cc::NV_SET_BITS => nv::set_bits(tpm, c),
        cc::NV_EXTEND => nv::extend(tpm, c),
        cc::NV_WRITE => nv::write(tpm, c),
        cc::NV_WRITE_LOCK => nv::write_lock(tpm, c),
        cc::DA_LOCK_RESET => da::da_lock_reset(tpm, c),
        cc::DA_PARAMETERS => da::da_parameters(tpm, c),
        cc::PCR_EVENT => integrity::event(tpm, c),
        cc::PCR_RESET => integrity::reset(tpm, c),
        cc::SEQUENCE_COMPLETE => hash_hmac::complete(tpm, c),
        cc::INCREMENTAL_SELF_TEST => testing::incremental_self_test(tpm, c),
        cc::SELF_TEST => testing::self_test(tpm, c),
        cc::STARTUP => startup::startup(tpm, c),
        cc::SHUTDOWN => startup::shutdown(tpm, c),
        cc::STIR_RANDOM => random::stir_random(tpm, c),
        cc::ACTIVATE_CREDENTIAL => object::credential::activate_credential(tpm, c),
        cc::CERTIFY => attestation::certify(tpm, c),
        cc::POLICY_NV => enhanced_auth::comparisons::nv(tpm, c),
        cc::CERTIFY_CREATION => attestation::certify_creation(tpm, c),
        cc::GET_TIME => attestation::get_time(tpm, c),
        cc::NV_READ => nv::read(tpm, c),
        cc::NV_READ_LOCK => nv::read_lock(tpm, c),
        cc::OBJECT_CHANGE_AUTH => object::lifecycle::object_change_auth(tpm, c),
        cc::POLICY_SECRET => enhanced_auth::signed_secret::policy_secret(tpm, c),
        cc::CREATE => object::create::create(tpm, c),
        cc::ECDH_ZGEN => asymmetric::ecdh_zgen(tpm, c),
        cc::HMAC => symmetric::hmac(tpm, c),
        cc::IMPORT => duplication::import(tpm, c),
        cc::LOAD => object::create::load(tpm, c),
        cc::QUOTE => attestation::quote(tpm, c),
        cc::RSA_DECRYPT => asymmetric::rsa_decrypt(tpm, c),
        cc::SEQUENCE_UPDATE => hash_hmac::update(tpm, c),
        cc::SIGN => signing::sign(tpm, c),
        cc::UNSEAL => object::lifecycle::unseal(tpm, c),
        cc::POLICY_SIGNED => enhanced_auth::signed_secret::signed(tpm, c),
        cc::CONTEXT_LOAD => context::load(tpm, c),
        cc::CONTEXT_SAVE => context::save(tpm, c),
        cc::ECDH_KEYGEN => asymmetric::ecdh_keygen(tpm, c),
        cc::ENCRYPT_DECRYPT => symmetric::encrypt_decrypt(tpm, c),
        cc::FLUSH_CONTEXT => context::flush(tpm, c),
        cc::LOAD_EXTERNAL => object::lifecycle::load_external(tpm, c),
        cc::MAKE_CREDENTIAL => object::credential::make_credential(tpm, c),
        cc::NV_READ_PUBLIC => nv::read_public(tpm, c),
        cc::POLICY_AUTHORIZE => enhanced_auth::authorize::authorize(tpm, c),
        cc::POLICY_AUTH_VALUE => enhanced_auth::assertions::auth_value(tpm, c),
        cc::POLICY_COMMAND_CODE => enhanced_auth::assertions::command_code(tpm, c),
        cc::POLICY_COUNTER_TIMER => enhanced_auth::comparisons::counter_timer(tpm, c),
        cc::POLICY_CP_HASH => enhanced_auth::names::cp_hash(tpm, c),
        cc::POLICY_LOCALITY => enhanced_auth::assertions::locality(tpm, c),
        cc::POLICY_NAME_HASH => enhanced_auth::names::name_hash(tpm, c),
        cc::POLICY_OR => enhanced_auth::assertions::or(tpm, c),
        cc::POLICY_TICKET => enhanced_auth::signed_secret::policy_ticket(tpm, c),
        cc::READ_PUBLIC => object::create::read_public(tpm, c),
        cc::RSA_ENCRYPT => asymmetric::rsa_encrypt(tpm, c),
        cc::START_AUTH_SESSION => session::start(tpm, c),
        cc::VERIFY_SIGNATURE => signing::verify_signature(tpm, c),
        cc::GET_CAPABILITY => capability::get_capability(tpm, c),
        cc::GET_RANDOM => random::get_random(tpm, c),
        cc::GET_TEST_RESULT => testing::get_test_result(tpm, c),
        cc::HASH => symmetric::hash(tpm, c),
        cc::PCR_READ => integrity::read(tpm, c),
        cc::POLICY_PCR => enhanced_auth::assertions::pcr(tpm, c),
        cc::POLICY_RESTART => enhanced_auth::assertions::restart(tpm, c),
        cc::READ_CLOCK => clocks::read_clock(tpm, c),
        cc::PCR_EXTEND => integrity::extend(tpm, c),
        cc::EVENT_SEQUENCE_COMPLETE => hash_hmac::event_complete(tpm, c),
        cc::HASH_SEQUENCE_START => hash_hmac::start(tpm, c),
        cc::POLICY_DUPLICATION_SELECT => enhanced_auth::names::duplication_select(tpm, c),
        cc::POLICY_GET_DIGEST => enhanced_auth::assertions::get_digest(tpm, c),
        cc::POLICY_PASSWORD => enhanced_auth::assertions::password(tpm, c),
        cc::POLICY_NV_WRITTEN => enhanced_auth::assertions::nv_written(tpm, c),
        cc::CREATE_LOADED => object::lifecycle::create_loaded(tpm, c),
        cc::POLICY_AUTHORIZE_NV => enhanced_auth::authorize::authorize_nv(tpm, c),
        cc::ENCRYPT_DECRYPT2 => symmetric::encrypt_decrypt2(tpm, c),
        _ => Err(Rc::COMMAND_CODE),
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::command_table::COMMANDS;

    /// Every command in the table reaches a handler: a command whose routing arm is missing would answer
    /// TPM_RC_COMMAND_CODE from `run`, which a handler never returns.
    #[test]
    fn every_table_entry_is_routed() {
        let mut tpm = crate::Tpm::new(alloc::boxed::Box::new(
            crate::insecure_test_entropy::InsecureTestEntropy::new(1),
        ));
        for def in COMMANDS {
            let mut c = crate::engine::command::Cmd::for_test();
            assert_ne!(
                super::run(&mut tpm, def.code, &mut c),
                Err(super::Rc::COMMAND_CODE),
                "{:#x}",
                def.code
            );
        }
    }
}
