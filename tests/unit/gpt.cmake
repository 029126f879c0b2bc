# The GPT model's gradients against finite differences in double precision,
# op by op (worker/gpt_impl.h), the causal mask, float against double.
la_c_test(gpt la_core)
set_tests_properties(gpt PROPERTIES LABELS worker)
