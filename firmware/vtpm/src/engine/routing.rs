//! Routing: which command function runs each command code of the table (Part 3 chapters).

use crate::Tpm;
use crate::commands::{
    asymmetric, attestation, capability, clocks, command_audit, context, da, duplication, enhanced_auth,
    ephemeral, hash_hmac, hierarchy, integrity, nv, object, random, session, signing, startup, symmetric,
    testing,
};
use crate::engine::command::Cmd;
use crate::wire::command_code::CommandCode;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// Runs the command `code` names. Every code of `command_table::COMMANDS` has an arm here (checked by
/// a test); any other code is TPM_RC_COMMAND_CODE, which the dispatcher has already answered.
pub(crate) fn run(tpm: &mut Tpm, code: CommandCode, c: &mut Cmd<'_>) -> TpmResult<()> {
    match code {
        CommandCode::EVICT_CONTROL => context::evict_control(tpm, c),
        CommandCode::HIERARCHY_CONTROL => hierarchy::hierarchy_control(tpm, c),
        CommandCode::NV_UNDEFINE_SPACE => nv::undefine_space(tpm, c),
        CommandCode::CLEAR => hierarchy::clear(tpm, c),
        CommandCode::CLEAR_CONTROL => hierarchy::clear_control(tpm, c),
        CommandCode::CLOCK_SET => clocks::clock_set(tpm, c),
        CommandCode::HIERARCHY_CHANGE_AUTH => hierarchy::change_auth(tpm, c),
        CommandCode::NV_DEFINE_SPACE => nv::define_space(tpm, c),
        CommandCode::PCR_ALLOCATE => integrity::allocate(tpm, c),
        CommandCode::SET_PRIMARY_POLICY => hierarchy::set_primary_policy(tpm, c),
        CommandCode::CLOCK_RATE_ADJUST => clocks::clock_rate_adjust(tpm, c),
        CommandCode::CREATE_PRIMARY => hierarchy::create_primary(tpm, c),
        CommandCode::NV_GLOBAL_WRITE_LOCK => nv::global_write_lock(tpm, c),
        CommandCode::GET_COMMAND_AUDIT_DIGEST => attestation::get_command_audit_digest(tpm, c),
        CommandCode::NV_INCREMENT => nv::increment(tpm, c),
        CommandCode::NV_SET_BITS => nv::set_bits(tpm, c),
        CommandCode::NV_EXTEND => nv::extend(tpm, c),
        CommandCode::NV_WRITE => nv::write(tpm, c),
        CommandCode::NV_WRITE_LOCK => nv::write_lock(tpm, c),
        CommandCode::DA_LOCK_RESET => da::da_lock_reset(tpm, c),
        CommandCode::DA_PARAMETERS => da::da_parameters(tpm, c),
        CommandCode::PCR_EVENT => integrity::event(tpm, c),
        CommandCode::PCR_RESET => integrity::reset(tpm, c),
        CommandCode::SEQUENCE_COMPLETE => hash_hmac::complete(tpm, c),
        CommandCode::SET_COMMAND_CODE_AUDIT_STATUS => command_audit::set_command_code_audit_status(tpm, c),
        CommandCode::INCREMENTAL_SELF_TEST => testing::incremental_self_test(tpm, c),
        CommandCode::SELF_TEST => testing::self_test(tpm, c),
        CommandCode::STARTUP => startup::startup(tpm, c),
        CommandCode::SHUTDOWN => startup::shutdown(tpm, c),
        CommandCode::STIR_RANDOM => random::stir_random(tpm, c),
        CommandCode::ACTIVATE_CREDENTIAL => object::credential::activate_credential(tpm, c),
        CommandCode::CERTIFY => attestation::certify(tpm, c),
        CommandCode::POLICY_NV => enhanced_auth::comparisons::nv(tpm, c),
        CommandCode::CERTIFY_CREATION => attestation::certify_creation(tpm, c),
        CommandCode::GET_TIME => attestation::get_time(tpm, c),
        CommandCode::GET_SESSION_AUDIT_DIGEST => attestation::get_session_audit_digest(tpm, c),
        CommandCode::NV_READ => nv::read(tpm, c),
        CommandCode::NV_READ_LOCK => nv::read_lock(tpm, c),
        CommandCode::OBJECT_CHANGE_AUTH => object::lifecycle::object_change_auth(tpm, c),
        CommandCode::POLICY_SECRET => enhanced_auth::signed_secret::policy_secret(tpm, c),
        CommandCode::CREATE => object::create::create(tpm, c),
        CommandCode::ECDH_ZGEN => asymmetric::ecdh_zgen(tpm, c),
        CommandCode::HMAC => symmetric::hmac(tpm, c),
        CommandCode::IMPORT => duplication::import(tpm, c),
        CommandCode::LOAD => object::create::load(tpm, c),
        CommandCode::QUOTE => attestation::quote(tpm, c),
        CommandCode::RSA_DECRYPT => asymmetric::rsa_decrypt(tpm, c),
        CommandCode::HMAC_START => hash_hmac::hmac_start(tpm, c),
        CommandCode::SEQUENCE_UPDATE => hash_hmac::update(tpm, c),
        CommandCode::SIGN => signing::sign(tpm, c),
        CommandCode::UNSEAL => object::lifecycle::unseal(tpm, c),
        CommandCode::POLICY_SIGNED => enhanced_auth::signed_secret::signed(tpm, c),
        CommandCode::CONTEXT_LOAD => context::load(tpm, c),
        CommandCode::CONTEXT_SAVE => context::save(tpm, c),
        CommandCode::ECDH_KEYGEN => asymmetric::ecdh_keygen(tpm, c),
        CommandCode::ENCRYPT_DECRYPT => symmetric::encrypt_decrypt(tpm, c),
        CommandCode::FLUSH_CONTEXT => context::flush(tpm, c),
        CommandCode::LOAD_EXTERNAL => object::lifecycle::load_external(tpm, c),
        CommandCode::MAKE_CREDENTIAL => object::credential::make_credential(tpm, c),
        CommandCode::NV_READ_PUBLIC => nv::read_public(tpm, c),
        CommandCode::POLICY_AUTHORIZE => enhanced_auth::authorize::authorize(tpm, c),
        CommandCode::POLICY_AUTH_VALUE => enhanced_auth::assertions::auth_value(tpm, c),
        CommandCode::POLICY_COMMAND_CODE => enhanced_auth::assertions::command_code(tpm, c),
        CommandCode::POLICY_COUNTER_TIMER => enhanced_auth::comparisons::counter_timer(tpm, c),
        CommandCode::POLICY_CP_HASH => enhanced_auth::names::cp_hash(tpm, c),
        CommandCode::POLICY_LOCALITY => enhanced_auth::assertions::locality(tpm, c),
        CommandCode::POLICY_NAME_HASH => enhanced_auth::names::name_hash(tpm, c),
        CommandCode::POLICY_OR => enhanced_auth::assertions::or(tpm, c),
        CommandCode::POLICY_TICKET => enhanced_auth::signed_secret::policy_ticket(tpm, c),
        CommandCode::READ_PUBLIC => object::create::read_public(tpm, c),
        CommandCode::RSA_ENCRYPT => asymmetric::rsa_encrypt(tpm, c),
        CommandCode::START_AUTH_SESSION => session::start(tpm, c),
        CommandCode::VERIFY_SIGNATURE => signing::verify_signature(tpm, c),
        CommandCode::GET_CAPABILITY => capability::get_capability(tpm, c),
        CommandCode::GET_RANDOM => random::get_random(tpm, c),
        CommandCode::GET_TEST_RESULT => testing::get_test_result(tpm, c),
        CommandCode::HASH => symmetric::hash(tpm, c),
        CommandCode::PCR_READ => integrity::read(tpm, c),
        CommandCode::POLICY_PCR => enhanced_auth::assertions::pcr(tpm, c),
        CommandCode::POLICY_RESTART => enhanced_auth::assertions::restart(tpm, c),
        CommandCode::READ_CLOCK => clocks::read_clock(tpm, c),
        CommandCode::PCR_EXTEND => integrity::extend(tpm, c),
        CommandCode::EVENT_SEQUENCE_COMPLETE => hash_hmac::event_complete(tpm, c),
        CommandCode::HASH_SEQUENCE_START => hash_hmac::start(tpm, c),
        CommandCode::POLICY_DUPLICATION_SELECT => enhanced_auth::names::duplication_select(tpm, c),
        CommandCode::POLICY_GET_DIGEST => enhanced_auth::assertions::get_digest(tpm, c),
        CommandCode::TEST_PARMS => testing::test_parms(tpm, c),
        CommandCode::COMMIT => ephemeral::commit(tpm, c),
        CommandCode::POLICY_PASSWORD => enhanced_auth::assertions::password(tpm, c),
        CommandCode::POLICY_NV_WRITTEN => enhanced_auth::assertions::nv_written(tpm, c),
        CommandCode::CREATE_LOADED => object::lifecycle::create_loaded(tpm, c),
        CommandCode::POLICY_AUTHORIZE_NV => enhanced_auth::authorize::authorize_nv(tpm, c),
        CommandCode::ENCRYPT_DECRYPT2 => symmetric::encrypt_decrypt2(tpm, c),
        CommandCode::NV_UNDEFINE_SPACE_SPECIAL => nv::undefine_space_special(tpm, c),
        CommandCode::CHANGE_EPS => hierarchy::change_eps(tpm, c),
        CommandCode::CHANGE_PPS => hierarchy::change_pps(tpm, c),
        CommandCode::NV_CHANGE_AUTH => nv::change_auth(tpm, c),
        CommandCode::DUPLICATE => duplication::duplicate(tpm, c),
        CommandCode::NV_CERTIFY => nv::certify::nv_certify(tpm, c),
        CommandCode::EC_EPHEMERAL => ephemeral::ec_ephemeral(tpm, c),
        CommandCode::POLICY_TEMPLATE => enhanced_auth::names::template(tpm, c),
        _ => Err(ResponseCode::COMMAND_CODE),
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
                Err(super::ResponseCode::COMMAND_CODE),
                "{:#x}",
                def.code.0
            );
        }
    }
}
