/// The parameter tensors of GPT-2, in the order they are laid out in one buffer. Each knows its
/// Hugging Face name, whether it is stacked per block ([L, …]), how it is initialised and whether
/// AdamW decays it: what the model, the optimizer and the checkpoint files each need of a name.
public enum GPT2Tensor: String, CaseIterable, Sendable {
    case wte, wpe
    case ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb
    case lnfw, lnfb

    /// Stacked over the blocks: its first dimension is the layer.
    public var isPerLayer: Bool {
        switch self {
        case .wte, .wpe, .lnfw, .lnfb: return false
        default: return true
        }
    }

    /// A 2-D weight matrix (the token embedding included): AdamW's weight decay applies, as in
    /// nanoGPT; biases, LayerNorm gains and the position embedding get none.
    public var isDecayed: Bool {
        switch self {
        case .wte, .qkvw, .attprojw, .fcw, .fcprojw: return true
        default: return false
        }
    }

    /// GPT-2's initialisation of the tensor.
    enum Initialisation { case zero, one, normal, residualProjection }

    var initialisation: Initialisation {
        switch self {
        case .ln1w, .ln2w, .lnfw: return .one
        case .ln1b, .ln2b, .lnfb, .qkvb, .attprojb, .fcb, .fcprojb: return .zero
        case .attprojw, .fcprojw: return .residualProjection
        case .wte, .wpe, .qkvw, .fcw: return .normal
        }
    }

    /// The name of the tensor (of one block's slice, for per-layer tensors) in `GPT2LMHeadModel`.
    public func huggingFaceName(layer: Int?) -> String {
        let h = layer.map { "transformer.h.\($0)." } ?? ""
        switch self {
        case .wte: return "transformer.wte.weight"
        case .wpe: return "transformer.wpe.weight"
        case .ln1w: return h + "ln_1.weight"
        case .ln1b: return h + "ln_1.bias"
        case .qkvw: return h + "attn.c_attn.weight"
        case .qkvb: return h + "attn.c_attn.bias"
        case .attprojw: return h + "attn.c_proj.weight"
        case .attprojb: return h + "attn.c_proj.bias"
        case .ln2w: return h + "ln_2.weight"
        case .ln2b: return h + "ln_2.bias"
        case .fcw: return h + "mlp.c_fc.weight"
        case .fcb: return h + "mlp.c_fc.bias"
        case .fcprojw: return h + "mlp.c_proj.weight"
        case .fcprojb: return h + "mlp.c_proj.bias"
        case .lnfw: return "transformer.ln_f.weight"
        case .lnfb: return "transformer.ln_f.bias"
        }
    }

    /// The name llama.cpp gives the tensor in a GGUF file (`LLM_ARCH_GPT2`).
    public func ggufName(layer: Int?) -> String {
        let block = layer.map { "blk.\($0)." } ?? ""
        switch self {
        case .wte: return "token_embd.weight"
        case .wpe: return "position_embd.weight"
        case .ln1w: return block + "attn_norm.weight"
        case .ln1b: return block + "attn_norm.bias"
        case .qkvw: return block + "attn_qkv.weight"
        case .qkvb: return block + "attn_qkv.bias"
        case .attprojw: return block + "attn_output.weight"
        case .attprojb: return block + "attn_output.bias"
        case .ln2w: return block + "ffn_norm.weight"
        case .ln2b: return block + "ffn_norm.bias"
        case .fcw: return block + "ffn_up.weight"
        case .fcb: return block + "ffn_up.bias"
        case .fcprojw: return block + "ffn_down.weight"
        case .fcprojb: return block + "ffn_down.bias"
        case .lnfw: return "output_norm.weight"
        case .lnfb: return "output_norm.bias"
        }
    }

    /// A Conv1D weight ([in, out] in quarry and Hugging Face), which GGUF stores as [out, in].
    public var isConv1DWeight: Bool { [.qkvw, .attprojw, .fcw, .fcprojw].contains(self) }
}
