"""Contrastive decoders (evalkit.decoding.contrastive): the properties of issue 18 on tiny random
LLaVA checkpoints (multi-token answers), the noise and the contrast step against VCD's own code,
and the yes/no variant."""

from __future__ import annotations

import pytest
import torch

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.decoding.contrastive import Contrastive, ContrastiveYesNo
from evalkit.decoding.greedy import Greedy
from evalkit.decoding.steploop import draw, item_generators, item_seed
from evalkit.decoding.yesno_logits import YesNoLogits
from evalkit.errors import ConfigError
from evalkit.images import load_image
from evalkit.models.llava import LlavaModel
from evalkit.models.negatives import diffusion_noise, negative_inputs, without_image
from evalkit.runner import iterate_predictions

NEW = 5  # new tokens: enough for the negative side's own cache to matter after the first one
HOT = dict(do_sample=True, temperature=1.5, top_p=0.95)


@pytest.fixture(scope="module")
def items(yesno_file):
    return YesNoFileDataset(str(yesno_file)).load()[:8]  # 4 images, 2 questions each


@pytest.fixture(scope="module")
def model(tiny_checkpoints):
    return LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu")


def answers(items, model, method, batch_size, seed=0, p_yes=False):
    method.prepare(model)
    out = {}
    for predictions, _ in iterate_predictions(items, model, method, batch_size, seed=seed):
        for p in predictions:
            assert p.error is None, p.error
            out[p.item_id] = p.p_yes if p_yes else p.raw_text
    return out


def test_alpha_zero_greedy_and_beta_one_equal_greedy(items, model):
    greedy = answers(items, model, Greedy(max_new_tokens=NEW), 4)
    assert sum(len(model.tokenizer(t)["input_ids"]) > 2 for t in greedy.values()) >= 4  # multi-token answers
    assert answers(items, model, Contrastive(negative="noised_image", alpha=0.0, max_new_tokens=NEW), 4) == greedy
    # beta = 1 keeps only the argmax of the real input's logits, whatever the contrast and sampler.
    assert answers(items, model, Contrastive(negative="noised_image", alpha=1.0, beta=1.0, max_new_tokens=NEW,
                                             **HOT), 3) == greedy
    assert answers(items, model, Contrastive(negative="no_image", alpha=1.0, max_new_tokens=NEW), 4) != greedy


def test_alpha_zero_sampling_equals_apc_sample_at_the_same_seed(items, model):
    apc = answers(items, model, Contrastive(negative="none", alpha=0.0, beta=0.1, max_new_tokens=NEW, **HOT), 4)
    zero = answers(items, model, Contrastive(negative="noised_image", alpha=0.0, beta=0.1, max_new_tokens=NEW,
                                             **HOT), 3)
    assert zero == apc
    other_seed = answers(items, model, Contrastive(negative="none", alpha=0.0, max_new_tokens=NEW, **HOT), 4, seed=1)
    assert other_seed != apc  # the draws really are seeded


@pytest.mark.parametrize("negative", ["noised_image", "no_image", "instruction"])
def test_batched_with_caches_equals_batch_size_one(items, model, negative):
    method = Contrastive(negative=negative, alpha=1.0, beta=0.1, max_new_tokens=NEW, **HOT)
    single = answers(items, model, method, 1)
    model.configure_cache({"enabled": True})  # cached features + shared image prefix on the positive side
    try:
        assert answers(items[::-1], model, method, 5) == single
    finally:
        model.configure_cache(None)
    assert answers(items, model, method, 8, seed=1) != single


def plain_loop(model, method, item, seed: int) -> list[int]:
    """The contrastive step recomputed from scratch each step: full sequences, no KV cache,
    batch size 1, the real and negative inputs as two separate forwards."""
    batch = model.collate([model.prepare(load_image(item.image), item.text_for_prompt)])
    positive = model._model_inputs(batch)  # the cache is off: pixels
    negative = negative_inputs(model, batch, method.spec, [item_seed(seed, item.id, "noise")])
    ids_p, ids_n = positive.pop("input_ids"), negative.pop("input_ids")
    positive.pop("attention_mask"), negative.pop("attention_mask")
    generator = item_generators(seed, [item.id])[0]
    eos, tokens = set(model.eos_token_ids()), []
    for n in range(method.settings.max_new_tokens):
        with torch.inference_mode():
            l_pos = model.model(input_ids=ids_p, use_cache=False, **positive).logits[:, -1]
            l_neg = model.model(input_ids=ids_n, use_cache=False, **negative).logits[:, -1]
        scores = method.contrast(n, torch.cat([l_pos, l_neg]), 1)
        if method.settings.do_sample:
            token = draw(torch.softmax(method.warpers(None, scores), -1)[0], generator)
        else:
            token = int(scores.argmax(-1))
        tokens.append(token)
        if token in eos:
            break
        ids_p = torch.cat([ids_p, torch.tensor([[token]])], 1)
        ids_n = torch.cat([ids_n, torch.tensor([[token]])], 1)
    return tokens


@pytest.mark.parametrize("negative,sample", [("noised_image", True), ("no_image", False), ("instruction", False),
                                             ("m3id", False)])
def test_cached_2b_row_steps_equal_a_plain_loop_without_caches(items, model, negative, sample):
    settings = dict(negative="no_image", schedule="m3id", m3id_lambda=0.5, beta=0.0) if negative == "m3id" else \
        dict(negative=negative, alpha=1.0, beta=0.1)
    method = Contrastive(max_new_tokens=NEW, **settings, **(HOT if sample else {}))
    method.prepare(model)
    expected = {item.id: plain_loop(model, method, item, seed=3) for item in items[:4]}
    assert max(len(t) for t in expected.values()) > 1
    model.configure_cache({"enabled": True})
    try:
        got = answers(items[:4], model, method, 4, seed=3)
    finally:
        model.configure_cache(None)
    decoded = {k: model.tokenizer.decode(t, skip_special_tokens=True, clean_up_tokenization_spaces=False)
               for k, t in expected.items()}
    assert got == decoded


def test_llava16_contrast_batched_and_alpha_zero(tiny_checkpoints, items):
    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava16"]), family="llava16", device="cpu")
    picked = items[:4]  # square, wide and tall: different tile counts and lengths in one batch
    greedy = answers(picked, model, Greedy(max_new_tokens=3), 4)
    assert answers(picked, model, Contrastive(negative="noised_image", alpha=0.0, max_new_tokens=3), 4) == greedy
    method = Contrastive(negative="noised_image", alpha=1.0, max_new_tokens=3)
    assert answers(picked, model, method, 1) == answers(picked, model, method, 4)


def test_yesno_variant(items, model):
    logits = answers(items, model, YesNoLogits(), 4, p_yes=True)
    plain = answers(items, model, ContrastiveYesNo(negative="no_image", alpha=0.0, beta=0.0), 3, p_yes=True)
    assert plain == pytest.approx(logits, abs=1e-5)
    contrast = ContrastiveYesNo(negative="no_image", alpha=1.0, beta=0.0)
    p = answers(items, model, contrast, 4, p_yes=True)
    assert max(abs(p[k] - logits[k]) for k in p) > 1e-3  # the contrast moves p_yes
    assert answers(items, model, contrast, 1, p_yes=True) == pytest.approx(p, abs=1e-5)
    generating = answers(items, model, Contrastive(negative="no_image", alpha=1.0, beta=0.0, max_new_tokens=1), 4,
                         p_yes=True)  # its first step's p_yes is the yes/no variant's
    assert generating == pytest.approx(p, abs=1e-5)


# VCD's noise, copied from github.com/DAMO-NLP-SG/VCD vcd_utils/vcd_add_noise.py (MIT licence,
# (c) the VCD authors), to show diffusion_noise draws the same tensor for the same generator state.
def vcd_add_diffusion_noise(image_tensor, noise_step):
    num_steps = 1000
    betas = torch.linspace(-6, 6, num_steps)
    betas = torch.sigmoid(betas) * (0.5e-2 - 1e-5) + 1e-5
    alphas = 1 - betas
    alphas_prod = torch.cumprod(alphas, dim=0)
    alphas_bar_sqrt = torch.sqrt(alphas_prod)
    one_minus_alphas_bar_sqrt = torch.sqrt(1 - alphas_prod)

    def q_x(x_0, t):
        noise = torch.randn_like(x_0)
        return alphas_bar_sqrt[t] * x_0 + one_minus_alphas_bar_sqrt[t] * noise

    return q_x(image_tensor.clone(), noise_step)


@pytest.mark.parametrize("step", [0, 500, 999])
def test_noise_equals_vcds(step):
    x = torch.rand(3, 12, 10) * 4 - 2
    torch.manual_seed(11)
    theirs = vcd_add_diffusion_noise(x, step)
    assert torch.equal(diffusion_noise(x, step, torch.Generator().manual_seed(11)), theirs)


def test_contrast_step_equals_vcds():
    """VCD's vcd_sample.py contrast and 'version 2' cutoff (MIT licence, the VCD authors)."""
    torch.manual_seed(0)
    logits, logits_cd = torch.randn(3, 50) * 3, torch.randn(3, 50) * 3
    cd_alpha, cd_beta = 1.0, 0.1
    cutoff = torch.log(torch.tensor(cd_beta)) + logits.max(dim=-1, keepdim=True).values
    diffs = (1 + cd_alpha) * logits - cd_alpha * logits_cd
    theirs = diffs.masked_fill(logits < cutoff, -float("inf"))
    ours = Contrastive(alpha=cd_alpha, beta=cd_beta).contrast(0, torch.cat([logits, logits_cd]), 3)
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    assert torch.allclose(ours[~torch.isinf(ours)], theirs[~torch.isinf(theirs)], atol=1e-6)


def test_no_image_prompt_and_settings_fail_early(model):
    prompt = model.render_prompt("Is there a cat?")
    assert without_image(prompt, model.processor.image_token) == prompt.replace("<image>\n", "")
    assert "<image>" not in without_image(prompt, model.processor.image_token)
    assert model.render_prompt("Q", system="Be confused.").startswith("Be confused. USER:")
    for bad in (dict(negative="blur"), dict(negative="none", alpha=1.0), dict(beta=1.5), dict(schedule="linear"),
                dict(noise_step=1000), dict(negative="instruction", instruction=" ")):
        with pytest.raises(ConfigError):
            Contrastive(**bad)
