//! The GDT, with a 64-bit code segment, a data segment and the TSS whose IST slots point at the
//! layout's exception stacks (each above an unmapped guard page).
use spin::Once;
use warden_defs::layout::{StackId, stack_top};
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot numbers as the IDT names them (slot N is `interrupt_stack_table[N - 1]`).
pub const IST_DOUBLE_FAULT: u16 = 1;
/// IST slot for NMIs.
pub const IST_NMI: u16 = 2;
/// IST slot for machine checks.
pub const IST_MACHINE_CHECK: u16 = 3;
/// IST slot for every other exception.
pub const IST_EXCEPTION: u16 = 4;

struct Tables {
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static TABLES: Once<Tables> = Once::new();

/// Builds and loads the GDT and TSS, then reloads every segment register.
pub fn load() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let slots = [
            (IST_DOUBLE_FAULT, StackId::DoubleFault),
            (IST_NMI, StackId::Nmi),
            (IST_MACHINE_CHECK, StackId::MachineCheck),
            (IST_EXCEPTION, StackId::Exception),
        ];
        for (slot, stack) in slots {
            tss.interrupt_stack_table[usize::from(slot) - 1] = VirtAddr::new(stack_top(stack));
        }
        tss
    });
    let tables = TABLES.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        Tables { gdt, code, data, tss }
    });
    tables.gdt.load();
    // SAFETY: the selectors name descriptors of the GDT just loaded, which lives in a `static`; the code
    // selector is a 64-bit code segment, so execution continues in long mode.
    unsafe {
        CS::set_reg(tables.code);
        DS::set_reg(tables.data);
        ES::set_reg(tables.data);
        SS::set_reg(tables.data);
        load_tss(tables.tss);
    }
}
