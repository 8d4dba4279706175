# %% [markdown]
# # Lab 98: a fixture lab whose hidden test handles a secret input
# One exercise; its hidden test prints its input and fails with it in the message.

# %% tags=["export"]
def shout(text):
    """``text`` in capitals with an exclamation mark."""
    # BEGIN SOLUTION 1.1
    return text.upper() + "!"
    # END SOLUTION


# %%
check("q1")
