/* emu_fiber_switch(void** save_sp, void* to_sp): saves the callee-saved registers of the
   running context on its stack, stores its stack pointer in *save_sp, and resumes the context
   whose stack pointer is to_sp (x86-64 System V). */
    .text
    .globl emu_fiber_switch
    .hidden emu_fiber_switch
    .type emu_fiber_switch,@function
emu_fiber_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size emu_fiber_switch, .-emu_fiber_switch
    .section .note.GNU-stack,"",@progbits
