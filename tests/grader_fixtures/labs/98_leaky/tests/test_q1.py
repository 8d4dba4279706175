from mlsys_edu.lab import question

SECRET = "hidden input 7f3a9c"  # what students must never see in their feedback


# Defined first on purpose: the judge must still run the public test before it, so that a
# submission cannot carry this input into the public test's message.
@question("q1", points=2, hidden=True, timeout_s=5)
def test_shout_secret(sub, ref):
    print("debugging the hidden test with", SECRET)
    got = sub.shout(SECRET)
    assert got == ref.shout(SECRET), f"shout({SECRET!r}) gave {got!r}"


@question("q1", points=1, timeout_s=5)
def test_shout_public(sub):
    assert sub.shout("hi") == "HI!"
