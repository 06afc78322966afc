//! TPM2_Create, TPM2_Load and TPM2_ReadPublic (Part 3 §12.1, §12.2, §12.4).

use crate::Tpm;
use crate::engine::command::Cmd;
use crate::object::Public;
use crate::object::creation::{
    MAX_PRIVATE, check_against_parent, new_child, read_create_in, storage_parent, unwrap, wrap,
    write_creation,
};
use crate::object::key_material::{self as keys};
use crate::state::key_store::KeyObject;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_Create (Part 3 §12.1).
pub(crate) fn create(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let input = read_create_in(&mut c.params, false)?;
    let parent = storage_parent(tpm, c.handles[0])?.clone();
    let k = new_child(tpm, &parent, &input.public, input.auth, input.data)?;
    c.out.tpm2b(&wrap(&parent, &k)?);
    let qn = parent.qualified.clone();
    write_creation(
        tpm,
        &mut c.out,
        &k,
        &input,
        (parent.public.name_alg.id(), &parent.name, &qn),
        c.locality,
    )?;
    Ok(())
}

/// TPM2_Load (Part 3 §12.2).
pub(crate) fn load(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let private = c.params.tpm2b(MAX_PRIVATE).p(1)?;
    let public = Public::parse_2b(&mut c.params).p(2)?;
    c.params.finish()?;
    public.validate(false).p(2)?;
    let parent = storage_parent(tpm, c.handles[0])?.clone();
    check_against_parent(&parent, &public).p(2)?;
    let name = public.name();
    let sens = unwrap(&parent, &name, private).p(1)?;
    let material = keys::restore(&public, &sens).p(2)?;
    let k = KeyObject::new(public, sens, material, &parent.qualified, parent.hierarchy);
    c.out.tpm2b(&k.name);
    c.rhandle = tpm.objects.insert_key(k)?;
    Ok(())
}

/// TPM2_ReadPublic (Part 3 §12.4): key objects answer; sequence objects keep their answer.
pub(crate) fn read_public(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let Some(k) = tpm.key(c.handles[0]) else { return read_public_of_sequence(tpm, c) };
    c.params.finish()?;
    c.out.tpm2b(&k.public.marshal());
    c.out.tpm2b(&k.name);
    c.out.tpm2b(&k.qualified);
    Ok(())
}

/// TPM2_ReadPublic (Part 3 §12.4). The only objects this engine holds are sequence objects, which
/// have no public area: TPM_RC_SEQUENCE (as ms-tpm-20-ref answers for them).
fn read_public_of_sequence(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    tpm.objects.sequence(c.handles[0]).ok_or(ResponseCode::HANDLE.handle(1))?;
    Err(ResponseCode::SEQUENCE)
}
