//! Warden's VMSA struct (`warden_defs::vmsa::Vmsa`) against the IGVM crate's (`igvm::snp_defs::SevVmsa`,
//! the one the image builder fills): two independent transcriptions of AMD64 APM vol. 2, Appendix B,
//! "VMSA Layout, State Save Area for SEV-ES", which must agree on every field both name.
use core::mem::{offset_of, size_of};
use igvm::snp_defs::SevVmsa;
use warden_defs::vmsa::Vmsa;

/// `(field, Warden's offset, igvm's offset)` for every field both define (igvm's name in brackets where
/// it differs).
fn shared_fields() -> Vec<(&'static str, usize, usize)> {
    macro_rules! same {
        ($($ours:ident $(= $theirs:ident)?),* $(,)?) => {
            vec![$(same!(@one $ours $(= $theirs)?)),*]
        };
        (@one $ours:ident = $theirs:ident) => {
            (concat!(stringify!($ours), " [", stringify!($theirs), "]"), offset_of!(Vmsa, $ours), offset_of!(SevVmsa, $theirs))
        };
        (@one $ours:ident) => {
            (stringify!($ours), offset_of!(Vmsa, $ours), offset_of!(SevVmsa, $ours))
        };
    }
    same![
        es,
        cs,
        ss,
        ds,
        fs,
        gs,
        gdtr,
        ldtr,
        idtr,
        tr,
        pl0_ssp,
        pl1_ssp,
        pl2_ssp,
        pl3_ssp,
        u_cet,
        reserved_0x0c8 = vmsa_reserved1,
        vmpl,
        cpl,
        reserved_0x0cc = vmsa_reserved2,
        efer,
        reserved_0x0d8 = vmsa_reserved3,
        xss,
        cr4,
        cr3,
        cr0,
        dr7,
        dr6,
        rflags,
        rip,
        dr0,
        dr1,
        dr2,
        dr3,
        dr0_addr_mask,
        dr1_addr_mask,
        dr2_addr_mask,
        dr3_addr_mask,
        reserved_0x1c0 = vmsa_reserved4,
        rsp,
        s_cet,
        ssp,
        isst_addr = interrupt_ssp_table_addr,
        rax,
        star,
        lstar,
        cstar,
        sfmask,
        kernel_gs_base,
        sysenter_cs,
        sysenter_esp,
        sysenter_eip,
        cr2,
        reserved_0x248 = vmsa_reserved5,
        g_pat = pat,
        dbgctl,
        br_from = last_branch_from_ip,
        br_to = last_branch_to_ip,
        last_excp_from = last_excp_from_ip,
        last_excp_to = last_excp_to_ip,
        reserved_0x298 = vmsa_reserved6,
        spec_ctrl,
        rcx,
        rdx,
        rbx,
        reserved_0x320 = vmsa_reserved8,
        rbp,
        rsi,
        rdi,
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
        reserved_0x380 = vmsa_reserved9,
        guest_exit_info_1 = exit_info1,
        guest_exit_info_2 = exit_info2,
        guest_exit_int_info = exit_int_info,
        guest_nrip = next_rip,
        sev_features,
        vintr_ctrl = v_intr_cntrl,
        guest_exit_code = guest_error_code,
        virtual_tom,
        tlb_id,
        pcpu_id,
        event_inj = event_inject,
        xcr0,
        reserved_0x3f0 = xsave_valid_bitmap,
        x87_dp = x87dp,
        mxcsr,
        x87_ftw,
        x87_fsw,
        x87_fcw,
        x87_fop = x87_op,
        x87_ds,
        x87_cs,
        x87_rip,
        fpreg_x87 = x87_registers1,
        fpreg_xmm = xmm_registers,
        fpreg_ymm = ymm_registers,
        reserved_0x670 = vmsa_padding,
    ]
}

#[test]
fn warden_vmsa_matches_igvm_sev_vmsa_field_by_field() {
    assert_eq!(size_of::<Vmsa>(), 4096);
    assert_eq!(size_of::<SevVmsa>(), 4096);
    let fields = shared_fields();
    let mismatches: Vec<_> = fields.iter().filter(|(_, ours, theirs)| ours != theirs).collect();
    assert!(mismatches.is_empty(), "offsets differ (field, ours, igvm's): {mismatches:#x?}");
    // The list is in address order and names every field of Warden's struct but three: PKRU, TSC_AUX
    // and the reserved bytes after them, which igvm keeps as one reserved array (0x2E8..0x308).
    assert!(fields.windows(2).all(|w| w[0].1 < w[1].1), "the list is not in address order");
    assert_eq!(fields.len(), 103);
}
