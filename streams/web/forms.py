from django import forms

from streams.models import Channel


class ChannelSettingsForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = ["title", "category"]
        widgets = {"title": forms.TextInput(attrs={"placeholder": "What are you streaming today?"})}
        help_texts = {"title": "Shown on the directory and your channel page."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].empty_label = "No category"


class LatencyModeForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = ["latency_mode"]
        widgets = {"latency_mode": forms.RadioSelect}
        labels = {"latency_mode": "Latency"}


class RotateKeyForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand the old key stops working and my live broadcast ends."
    )
